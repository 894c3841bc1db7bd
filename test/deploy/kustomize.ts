// Rendering a kustomization: with `kubectl kustomize` when it is installed, and with a small
// built-in renderer that understands what this repository's kustomizations use (resources,
// strategic-merge patch files, namespace, images).
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { loadYaml, loadYamlAll, rel } from './lib.js';

export type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const CLUSTER_SCOPED = new Set(['StorageClass', 'PersistentVolume', 'Namespace', 'ClusterRole', 'ClusterRoleBinding', 'CustomResourceDefinition', 'PriorityClass']);

/** Strategic merge as far as these manifests need it: maps merge, lists of named objects merge by name, other lists are replaced. */
function merge(base: unknown, patch: unknown): unknown {
  if (Array.isArray(base) && Array.isArray(patch)) {
    const named = (l: unknown[]) => l.length > 0 && l.every((x) => x && typeof x === 'object' && 'name' in (x as Obj));
    if (!named(base) || !named(patch)) return patch;
    const out = base.map((x) => x as Obj);
    for (const p of patch as Obj[]) {
      const i = out.findIndex((x) => x.name === p.name);
      if (i >= 0) out[i] = merge(out[i], p) as Obj;
      else out.push(p);
    }
    return out;
  }
  if (base && patch && typeof base === 'object' && typeof patch === 'object' && !Array.isArray(base) && !Array.isArray(patch)) {
    const out: Obj = { ...(base as Obj) };
    for (const [k, v] of Object.entries(patch as Obj)) out[k] = v === null ? undefined : k in out ? merge(out[k], v) : v;
    return out;
  }
  return patch;
}

export function renderBuiltin(dir: string): Obj[] {
  const k = loadYaml<Obj>(path.join(dir, 'kustomization.yaml'));
  let objs: Obj[] = [];
  for (const r of (k.resources ?? []) as string[]) {
    const p = path.resolve(dir, r);
    if (statSync(p).isDirectory()) objs.push(...renderBuiltin(p));
    else objs.push(...(loadYamlAll(p) as Obj[]));
  }
  for (const p of (k.patches ?? k.patchesStrategicMerge ?? []) as Array<Obj | string>) {
    const file = typeof p === 'string' ? p : p.path;
    if (!file) throw new Error(`${rel(dir)}: only file patches are understood by the built-in renderer`);
    for (const patch of loadYamlAll(path.resolve(dir, file)) as Obj[]) {
      const i = objs.findIndex((o) => o.kind === patch.kind && o.metadata?.name === patch.metadata?.name);
      if (i < 0) throw new Error(`${rel(dir)}: patch ${file} targets ${patch.kind}/${patch.metadata?.name}, which is not a resource`);
      objs[i] = merge(objs[i], patch) as Obj;
    }
  }
  if (k.namespace) objs = objs.map((o) => (CLUSTER_SCOPED.has(o.kind) ? o : { ...o, metadata: { ...o.metadata, namespace: k.namespace } }));
  for (const img of (k.images ?? []) as Obj[]) {
    for (const o of objs) {
      for (const c of [...(o.spec?.template?.spec?.containers ?? []), ...(o.spec?.template?.spec?.initContainers ?? [])] as Obj[]) {
        const [name, tag] = String(c.image).split(':');
        if (name === img.name) c.image = `${img.newName ?? name}:${img.newTag ?? tag}`;
      }
    }
  }
  return objs;
}

export const KUBECTL = ['/usr/bin/kubectl', '/usr/local/bin/kubectl'].find((p) => existsSync(p));

export function renderKubectl(dir: string): Obj[] {
  const r = spawnSync(KUBECTL!, ['kustomize', dir], { encoding: 'utf8', timeout: 30_000 });
  if (r.status !== 0) throw new Error(`kubectl kustomize ${rel(dir)} failed: ${r.stderr}`);
  return parseAllDocuments(r.stdout).map((d) => d.toJS() as Obj).filter(Boolean);
}


import t from 'tap';
import { loadConfig, parseListenAddr } from '../../src/config/load.js';
import { FLAGS, envName } from '../../src/config/flags.js';
import { helpText, parseBytes, parseDuration } from '../../src/config/parse.js';

const run = (argv: string[], env: NodeJS.ProcessEnv = {}) => {
  const r = loadConfig(argv, env);
  if (r.kind !== 'run') throw new Error('expected a run config');
  return r.config;
};

t.test('defaults: listen on vminsert port, forward to a local VictoriaMetrics', async (t) => {
  const c = run([]);
  t.same(c.listen, { host: '::', port: 8480 });
  t.same(c.nodes.map((n) => n.id), ['http://127.0.0.1:8428/api/v1/write']);
  t.equal(c.rerouteOnUnavailable, false);
  t.equal(c.replicationFactor, 1);
  t.equal(c.maxInsertRequestSize, 32 * 1024 * 1024);
  t.same(c.limits, { maxLabelsPerTimeseries: 40, maxLabelNameLen: 256, maxLabelValueLen: 4096 });
  t.equal(c.spool.fsync, 'always');
  t.equal(c.spool.onFull, 'reject');
  t.ok(Object.isFrozen(c) && Object.isFrozen(c.spool), 'config is frozen');
});

t.test('both flag styles, repeatable and comma lists', async (t) => {
  const c = run(['-httpListenAddr=127.0.0.1:9000', '--remoteWrite.url', 'http://a:1/w', '-remoteWrite.url=http://b:2/w,http://c:3/w', '--replicationFactor=2']);
  t.same(c.listen, { host: '127.0.0.1', port: 9000 });
  t.same(c.nodes.map((n) => n.id), ['http://a:1/w', 'http://b:2/w', 'http://c:3/w']);
  t.equal(c.replicationFactor, 2);
});

t.test('-storageNode: native nodes, no remote-write default unless asked for', async (t) => {
  const c = run(['-storageNode=vmstorage-1:8400,vmstorage-2', '-rerouteOnUnavailable']);
  t.same(c.nodes, [
    { kind: 'vmstorage', id: 'vmstorage-1:8400', addr: 'vmstorage-1:8400' },
    { kind: 'vmstorage', id: 'vmstorage-2', addr: 'vmstorage-2' },
  ]);
  t.equal(c.rerouteOnUnavailable, true);
  const mixed = run(['-storageNode=s1:8400', '-remoteWrite.url=http://a/w']);
  t.same(mixed.nodes.map((n) => [n.kind, n.id]), [['remote-write', 'http://a/w'], ['vmstorage', 's1:8400']]);
  t.throws(() => run(['-storageNode=http://x:8400']), { message: /host:port/ });
  t.throws(() => run(['-storageNode=a:1', '-storageNode=a:1']), { message: /twice/ });
});

t.test('environment overrides defaults, command line overrides environment', async (t) => {
  const env = { [envName('replicationFactor')]: '3', [envName('spool.path')]: '/tmp/x' };
  t.equal(envName('spool.maxDiskUsagePerNode'), 'SPILLWAY_SPOOL_MAXDISKUSAGEPERNODE');
  const c = run(['-replicationFactor=2'], env);
  t.equal(c.replicationFactor, 2);
  t.equal(c.spool.path, '/tmp/x');
});

t.test('sizes and durations', async (t) => {
  t.equal(parseBytes('x', '32MiB'), 33554432);
  t.equal(parseBytes('x', '500MB'), 500e6);
  t.equal(parseBytes('x', '1024'), 1024);
  t.equal(parseDuration('x', '1m30s'), 90_000);
  t.equal(parseDuration('x', '500ms'), 500);
  t.equal(parseDuration('x', '2'), 2000);
  t.equal(run(['-spool.fsync=250ms']).spool.fsync, 250);
  t.throws(() => parseBytes('x', '12 parsecs'), { code: 'SPW_ERR_CONFIG' });
  t.throws(() => parseDuration('x', '1y'), { code: 'SPW_ERR_CONFIG' });
});

t.test('bad configuration is refused with an actionable message', async (t) => {
  t.throws(() => run(['-nope=1']), { code: 'SPW_ERR_CONFIG', message: /unknown flag -nope/ });
  t.throws(() => run(['-replicationfactor=2']), { message: /did you mean -replicationFactor/ });
  t.throws(() => run(['-remoteWrite.url=ftp://x/']), { message: /http/ });
  t.throws(() => run(['-remoteWrite.url=http://a/w', '-remoteWrite.url=http://a/w']), { message: /twice/ });
  t.throws(() => run(['-spool.onFull=explode']), { message: /reject, drop-oldest/ });
  t.throws(() => run(['-replicationFactor=0']), { code: 'SPW_ERR_CONFIG' });
  t.throws(() => run(['-httpListenAddr=localhost']), { message: /:8480/ });
  t.throws(() => run(['stray']), { message: /unexpected argument/ });
});

t.test('listen addresses', async (t) => {
  t.same(parseListenAddr(':0'), { host: '::', port: 0 });
  t.same(parseListenAddr('[::1]:8480'), { host: '::1', port: 8480 });
});

t.test('-help lists every flag with its default, env name and reason', async (t) => {
  t.equal(loadConfig(['-help'], {}).kind, 'help');
  t.equal(loadConfig(['--help'], {}).kind, 'help');
  const text = helpText();
  for (const f of FLAGS) {
    t.match(text, `-${f.name}`, f.name);
    t.match(text, envName(f.name));
    if (f.default !== '') t.match(text, `(default ${f.default})`);
    t.ok(f.help.length > 30, `${f.name} has a reason`);
  }
});

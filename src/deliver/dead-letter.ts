// Records a node refused permanently (a 4xx other than 429) are set aside here rather than
// retried forever or dropped without trace, so an operator can inspect or replay them.
// One append-only file per node: for each record, a JSON header line then the body bytes.

import { mkdir, open, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import type { SpoolRecord } from '../spool/types.js';

export class DeadLetterFile {
  private fh: FileHandle | undefined;

  constructor(private readonly file: string) {}

  /** Kept beside the node's queue, so it travels with the spool volume. */
  static inNodeDir(nodeDir: string): DeadLetterFile {
    return new DeadLetterFile(path.join(nodeDir, 'dead-letter.bin'));
  }

  get path(): string {
    return this.file;
  }

  async add(rec: SpoolRecord, status: number, reason: string): Promise<void> {
    if (!this.fh) {
      await mkdir(path.dirname(this.file), { recursive: true });
      this.fh = await open(this.file, 'a');
    }
    const header = JSON.stringify({
      at: new Date().toISOString(),
      status,
      reason: reason.slice(0, 500),
      kind: rec.kind,
      tenant: `${rec.accountID}:${rec.projectID}`,
      samples: rec.samples,
      bytes: rec.data.length,
    });
    await this.fh.write(Buffer.concat([Buffer.from(header + '\n'), rec.data, Buffer.from('\n')]));
    await this.fh.sync();
  }

  async close(): Promise<void> {
    await this.fh?.close();
    this.fh = undefined;
  }
}

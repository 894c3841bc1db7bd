// The vminsert.02 handshake (shared/vmstorage/PROTOCOL.md §2). Fixed-size raw messages,
// client first, never compressed:
//
//   C→S "vminsert.02"   S→C "ok"   C→S isCompressed (00|01)   S→C "ok"   S→C server flag (00)   C→S "ok"
//
// vmstorage v1.93.7 gives each of its handshake reads and writes 1 s (from accept), newer
// ones 5 s for the whole exchange, so the client answers each step as soon as it can and
// bounds the whole exchange with one deadline of its own.

import type { Socket } from 'node:net';
import { type SocketReader, VmstorageConnError } from './packet.js';

export const HELLO = Buffer.from('vminsert.02', 'latin1');
export const OK = Buffer.from('ok', 'latin1');
/** Client flag: our later bytes are plain (no zstd). vmstorage never refuses it. */
export const FLAG_PLAIN = 0x00;
export const FLAG_ZSTD = 0x01;

/** Every byte a plain client sends during the handshake, in order. */
export const CLIENT_HANDSHAKE_PLAIN = Buffer.concat([HELLO, Buffer.from([FLAG_PLAIN]), OK]);
/** Every byte vmstorage sends during the handshake: ok, ok, its own isCompressed flag (00). */
export const SERVER_HANDSHAKE = Buffer.concat([OK, OK, Buffer.from([0x00])]);

export const DEFAULT_HANDSHAKE_TIMEOUT_MS = 5_000;

export interface HandshakeOptions {
  /** Deadline for the whole exchange. */
  timeoutMs?: number;
}

/**
 * Runs the client side on a connected socket. Resolves when vmstorage is ready for packets.
 * Rejects with VmstorageConnError: 'protocol' when the server closes before its first "ok"
 * (vmstorage does that on an unknown hello) or answers something else, 'timeout' when the
 * deadline passes (the socket is then destroyed), 'network' for socket errors.
 */
export async function clientHandshake(socket: Socket, reader: SocketReader, opts: HandshakeOptions = {}): Promise<void> {
  const deadline = Date.now() + (opts.timeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS);
  const left = () => {
    const ms = deadline - Date.now();
    if (ms <= 0) {
      socket.destroy();
      throw new VmstorageConnError('timeout', 'vmstorage handshake timed out');
    }
    return ms;
  };
  const expectOk = async (step: string) => {
    let got: Buffer;
    try {
      got = await reader.read(2, left());
    } catch (err) {
      if (err instanceof VmstorageConnError && err.reason === 'network' && step === 'hello') {
        throw new VmstorageConnError('protocol', 'vmstorage closed the connection after our hello; it does not accept "vminsert.02" (is this a vmstorage -vminsertAddr port?)', { cause: err });
      }
      throw err;
    }
    if (!got.equals(OK)) {
      throw new VmstorageConnError('protocol', `vmstorage answered ${JSON.stringify(got.toString('latin1'))} to our ${step} instead of "ok" (is this a vmstorage -vminsertAddr port?)`);
    }
  };

  socket.write(HELLO);
  await expectOk('hello');
  socket.write(Buffer.from([FLAG_PLAIN]));
  await expectOk('compression flag');
  const serverFlag = (await reader.read(1, left()))[0]!;
  if (serverFlag !== 0) {
    // Its replies would be a zstd stream; no vmstorage does this and we do not decode it.
    throw new VmstorageConnError('protocol', `vmstorage announced compressed replies (flag 0x${serverFlag.toString(16)}); not supported`);
  }
  socket.write(OK);
}

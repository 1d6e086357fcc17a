// Messages between the main thread (onnx.ts) and the inference worker (onnx-worker.ts).
import type { Device } from '../config.ts';
import type { SessionSettings } from './session-options.ts';
import type { BackendInfo } from './contract.ts';

export interface WorkerInit extends SessionSettings {
  onnxPath: string;
  device: Device;
}

/** What one worker thread gets: the pool's settings and its own withdrawal cell. */
export interface WorkerStart extends WorkerInit {
  /**
   * One Int32 cell the main thread sets to the id of a queued run it wants back. The worker claims it with
   * compareExchange just before starting that run; a run already started is never withdrawn (ids are unique, so a
   * late request matches nothing).
   */
  withdraw: SharedArrayBuffer;
}

/** A worker's session is up: what it reports is the backend's info. */
export interface ReadyMessage extends BackendInfo {
  type: 'ready';
}

export interface InitErrorMessage {
  type: 'init-error';
  message: string;
}

export interface RunMessage {
  type: 'run';
  id: number;
  rows: number;
  seqLen: number;
  /** int64 token ids, rows x seqLen, row-major, padded with pad_token_id. */
  ids: ArrayBuffer;
  /** int64 attention mask, rows x seqLen. */
  mask: ArrayBuffer;
  /** int64 token type ids, rows x seqLen (absent: all 0). */
  typeIds?: ArrayBuffer;
  padId?: number;
}

export interface ResultMessage {
  type: 'result';
  id: number;
  /** float32 logits, one per row. */
  logits: ArrayBuffer;
  inferenceMs: number;
}

/**
 * The run was withdrawn before it started (OnnxBackend.run's signal): nothing ran, the batcher queues its rows again.
 */
export interface WithdrawnMessage {
  type: 'withdrawn';
  id: number;
}

export interface RunErrorMessage {
  type: 'run-error';
  id: number;
  message: string;
}

/**
 * The run is starting now (posted just before session.run, which holds the thread until it returns): the pool's run
 * bound counts from here, and the heartbeat is not expected while it runs.
 */
export interface StartedMessage {
  type: 'started';
  id: number;
}

/** Heartbeat: the pool asks every HEARTBEAT_INTERVAL_MS (onnx.ts); the worker answers pong from its event loop. */
export interface PingMessage {
  type: 'ping';
}

export interface PongMessage {
  type: 'pong';
}

/** Finish the queued runs, release the session, then exit (terminating a thread with a live session can abort). */
export interface CloseMessage {
  type: 'close';
}

export type FromWorker =
  ReadyMessage | InitErrorMessage | ResultMessage | RunErrorMessage | WithdrawnMessage | StartedMessage | PongMessage;
export type ToWorker = RunMessage | CloseMessage | PingMessage;

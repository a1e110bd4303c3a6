/**
 * A GreenLang Orchestration agent in TypeScript: a Temporal worker on the official SDK.
 *
 * An agent is any Temporal worker polling the agent's task queue with activities named
 * after its actions. This one is a small warehouse with two actions:
 *
 *   reserve_stock  data {sku, quantity}: reserves stock, returns {reservation_id, sku,
 *                  quantity, available}
 *   release_stock  the compensation: releases the reservation named by the step's output,
 *                  which the saga passes in context.output
 *
 * Every effect is keyed by the call's idempotency key (stable across retries): a retry
 * returns the first result and changes nothing. With STOCK_JOURNAL set, each call is also
 * appended to that file as one JSON line, and the effects in it are replayed on start, so a
 * restarted worker still applies each key once.
 *
 * Usage: node lib/worker.js [task-queue]
 *   ORCH_TEMPORAL_ADDRESS    host:port of Temporal (default localhost:7233)
 *   ORCH_TEMPORAL_NAMESPACE  namespace (default "default")
 *   AGENT_TASK_QUEUE         the task queue when none is given (default agent-stock-ts)
 *   STOCK_PER_SKU            units of every SKU in stock at the start (default 100)
 *   STOCK_JOURNAL            file of JSON lines recording every call (optional)
 */
import { randomUUID } from 'node:crypto';
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';

import { ApplicationFailure, Context } from '@temporalio/activity';
import { DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';

/** What every action receives (workflows/models.py ActionRequest). */
export interface ActionRequest {
  data: unknown;
  idempotency_key: string;
  caller?: string | null;
  context?: Record<string, unknown>;
}

export interface Reservation {
  reservation_id: string;
  sku: string;
  quantity: number;
  /** Units of the SKU left after this reservation. */
  available: number;
}

export interface Release {
  released: boolean;
  reservation_id: string | null;
  sku?: string;
  quantity?: number;
  /** Units of the SKU available after the release. */
  available?: number;
}

/** One line of the journal: a call that returned. */
interface JournalEntry {
  activity: ActionName;
  idempotency_key: string;
  caller: string | null;
  attempt: number;
  /** False when the key had been applied before: the first result was returned again. */
  applied: boolean;
  request: ActionRequest;
  result: Reservation | Release;
}

type ActionName = 'reserve_stock' | 'release_stock';

/** Error type of a non-retryable failure caused by invalid input, as on Python agents. */
const INVALID_INPUT = 'InvalidActionInput';

const STOCK_PER_SKU = Number(process.env.STOCK_PER_SKU ?? 100);
const JOURNAL = process.env.STOCK_JOURNAL || undefined;

const available = new Map<string, number>();
const reservations = new Map<string, { sku: string; quantity: number; released: boolean }>();
/** Idempotency key → the result of the call that applied it. */
const results = new Map<string, Reservation | Release>();

function stockOf(sku: string): number {
  return available.get(sku) ?? STOCK_PER_SKU;
}

/** Apply a result to the state: on the call that computed it, or replaying the journal. */
const effects: Record<ActionName, (key: string, result: never) => void> = {
  reserve_stock(key: string, r: Reservation): void {
    results.set(key, r);
    reservations.set(r.reservation_id, { sku: r.sku, quantity: r.quantity, released: false });
    available.set(r.sku, r.available);
  },
  release_stock(key: string, r: Release): void {
    results.set(key, r);
    const reservation = r.reservation_id ? reservations.get(r.reservation_id) : undefined;
    if (r.released && reservation && r.available !== undefined) {
      reservation.released = true;
      available.set(reservation.sku, r.available);
    }
  },
};

function invalid(message: string): ApplicationFailure {
  return ApplicationFailure.create({ type: INVALID_INPUT, message, nonRetryable: true });
}

function stockData(data: unknown): { sku: string; quantity: number } {
  const d = (data ?? {}) as { sku?: unknown; quantity?: unknown };
  if (typeof d.sku !== 'string' || d.sku === '') {
    throw invalid('data.sku: a non-empty string is required');
  }
  if (typeof d.quantity !== 'number' || !Number.isInteger(d.quantity) || d.quantity < 1) {
    throw invalid('data.quantity: a positive integer is required');
  }
  return { sku: d.sku, quantity: d.quantity };
}

function reserve(request: ActionRequest): Reservation {
  const { sku, quantity } = stockData(request.data);
  const left = stockOf(sku);
  if (quantity > left) {
    throw ApplicationFailure.create({
      type: 'InsufficientStock',
      message: `${quantity} x ${sku} asked, ${left} available`,
      nonRetryable: true,
    });
  }
  return { reservation_id: `res-${randomUUID()}`, sku, quantity, available: left - quantity };
}

function release(request: ActionRequest): Release {
  const output = request.context?.output as Partial<Reservation> | null | undefined;
  const id = typeof output?.reservation_id === 'string' ? output.reservation_id : null;
  const reservation = id ? reservations.get(id) : undefined;
  if (!reservation || reservation.released) {
    return { released: false, reservation_id: id }; // nothing (left) to undo
  }
  const { sku, quantity } = reservation;
  return { released: true, reservation_id: id, sku, quantity, available: stockOf(sku) + quantity };
}

function describe(r: Reservation | Release): string {
  if (!('released' in r)) {
    return `reserved ${r.quantity} x ${r.sku} (${r.reservation_id}, ${r.available} left)`;
  }
  if (!r.released) {
    return `nothing to release (${r.reservation_id ?? 'no reservation in context.output'})`;
  }
  return `released ${r.quantity} x ${r.sku} (${r.reservation_id}, ${r.available} available)`;
}

function journal(entry: JournalEntry): void {
  if (JOURNAL) appendFileSync(JOURNAL, JSON.stringify(entry) + '\n');
}

/** An activity running `compute` once per idempotency key, logging one line per call. */
function action(name: ActionName, compute: (request: ActionRequest) => Reservation | Release) {
  return async (request: ActionRequest): Promise<Reservation | Release> => {
    const { attempt } = Context.current().info;
    const key = request?.idempotency_key;
    const call = `${name} key=${key} attempt=${attempt}`;
    try {
      if (typeof key !== 'string' || key === '') throw invalid('idempotency_key is required');
      const previous = results.get(key);
      const result = previous ?? compute(request);
      const entry = { activity: name, idempotency_key: key, caller: request.caller ?? null };
      // Journal first, then apply: an effect is in memory only once it is on disk.
      journal({ ...entry, attempt, applied: previous === undefined, request, result });
      if (previous === undefined) effects[name](key, result as never);
      const again = previous ? 'already applied, same result: ' : '';
      console.log(`${call}: ${again}${describe(result)}`);
      return result;
    } catch (error) {
      const failure = error as { type?: string; message?: string };
      console.log(`${call}: failed: ${failure.type ?? 'Error'}: ${failure.message ?? error}`);
      throw error;
    }
  };
}

function replayJournal(): number {
  if (!JOURNAL || !existsSync(JOURNAL)) return 0;
  let replayed = 0;
  for (const line of readFileSync(JOURNAL, 'utf8').split('\n')) {
    if (!line.trim()) continue;
    const entry = JSON.parse(line) as JournalEntry;
    if (entry.applied) {
      effects[entry.activity](entry.idempotency_key, entry.result as never);
      replayed += 1;
    }
  }
  return replayed;
}

export const activities = {
  reserve_stock: action('reserve_stock', reserve),
  release_stock: action('release_stock', release),
};

async function main(): Promise<void> {
  const address = process.env.ORCH_TEMPORAL_ADDRESS || 'localhost:7233';
  const namespace = process.env.ORCH_TEMPORAL_NAMESPACE || 'default';
  const taskQueue = process.argv[2] || process.env.AGENT_TASK_QUEUE || 'agent-stock-ts';
  // The SDK's own logs: warnings and errors, less the one an activity-only worker expects.
  const logger = new DefaultLogger('WARN', ({ level, message, meta }) => {
    if (message.startsWith('No workflows registered')) return;
    console.error(`[sdk ${level}] ${message}`, meta ?? '');
  });
  Runtime.install({ logger });
  const replayed = replayJournal();
  if (replayed) {
    console.log(`replayed ${replayed} effect${replayed === 1 ? '' : 's'} from ${JOURNAL}`);
  }
  const connection = await NativeConnection.connect({ address }).catch((error: Error) => {
    const where = `Temporal at ${address} (ORCH_TEMPORAL_ADDRESS)`;
    throw new Error(`cannot reach ${where}: ${error.message}`);
  });
  try {
    // No workflows: an activity-only worker. SIGINT/SIGTERM shut it down gracefully.
    const identity = `${process.pid}@${hostname()}`; // what Temporal lists as the poller
    const worker = await Worker.create({ connection, namespace, taskQueue, identity, activities });
    console.log(
      `worker ${identity} started: task queue ${taskQueue} on ${address} ` +
        `(namespace ${namespace}), actions ${Object.keys(activities).join(', ')}`,
    );
    await worker.run();
  } finally {
    await connection.close();
  }
  console.log('worker stopped');
}

if (require.main === module) {
  main().catch((error: Error) => {
    console.error(`error: ${error.message}`);
    process.exit(1);
  });
}

import { type Client, type Connection, WorkflowNotFoundError } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { connectClient, temporalTarget } from '../temporal/connection';
import { progressQuery } from '../workflows/definitions';
import type { LiveState } from './model';

/**
 * Optional live status from Temporal for the dashboard: what each search's workflow is doing (running, paused,
 * stopping, failed, …) and where a candidate's training step is in the Temporal Web UI. The dashboard works without a
 * server: every call here answers null when none is reachable, and a lost server is retried now and then. Read-only:
 * describe, query, list and history fetches; never a signal.
 */

const EventType = temporal.api.enums.v1.EventType;
const CONNECT_TIMEOUT_MS = 3000;
const CALL_TIMEOUT_MS = 2500;
const RETRY_CONNECT_MS = 15_000;
const STATUS_TTL_MS = 2000;
const ANSWER_WAIT_MS = 400;

export interface LiveOptions {
  /** host:port of the Temporal frontend (default TEMPORAL_ADDRESS / profile, else localhost:7233). */
  address?: string;
  namespace?: string;
  /** Base URL of the Temporal Web UI, for links to a search's steps (null: no links). */
  webUi?: string | null;
}

export interface StepLink {
  url: string;
  runId: string;
  eventId: string;
}

const STATUS: Record<string, LiveState> = {
  RUNNING: 'running',
  COMPLETED: 'completed',
  FAILED: 'failed',
  CANCELLED: 'canceled',
  TERMINATED: 'terminated',
  CONTINUED_AS_NEW: 'continued',
  TIMED_OUT: 'timed out',
};

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([p, new Promise<T>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms)))]).finally(() => clearTimeout(timer));
}

export class LiveStatus {
  private conn: { client: Client; connection: Connection } | null = null;
  private connecting: Promise<void> | null = null;
  private lastAttempt = 0;
  private readonly cache = new Map<string, { at: number; state: LiveState | null }>();
  private readonly refreshing = new Map<string, Promise<LiveState | null>>();
  /** Step links of closed runs never change; running runs are re-read. */
  private readonly closedRuns = new Map<string, Map<string, string>>();
  readonly namespace: string;
  readonly address: string;

  constructor(private readonly opts: LiveOptions = {}) {
    const target = temporalTarget({ address: opts.address, namespace: opts.namespace });
    this.namespace = target.namespace;
    this.address = target.address;
  }

  get webUi(): string | null {
    return this.opts.webUi ?? null;
  }

  /** Whether a server answered the last time one was asked. */
  get connected(): boolean {
    return this.conn !== null;
  }

  private async client(): Promise<Client | null> {
    if (this.conn) return this.conn.client;
    if (Date.now() - this.lastAttempt < RETRY_CONNECT_MS) {
      if (this.connecting) await this.connecting;
      return this.current();
    }
    this.lastAttempt = Date.now();
    this.connecting ??= (async () => {
      try {
        const c = await withTimeout(connectClient(temporalTarget({ address: this.opts.address, namespace: this.opts.namespace })), CONNECT_TIMEOUT_MS, `Temporal at ${this.address}`);
        this.conn = c;
      } catch {
        this.conn = null;
      } finally {
        this.connecting = null;
      }
    })();
    await this.connecting;
    return this.current();
  }

  private current(): Client | null {
    return this.conn?.client ?? null;
  }

  private lost(): void {
    const c = this.conn;
    this.conn = null;
    this.lastAttempt = Date.now();
    void c?.connection.close().catch(() => {});
  }

  /**
   * The workflow's state, or null without a server (or when the server does not know the search). Never holds a page
   * up for long: a state older than STATUS_TTL_MS is refreshed, and an answer that takes longer than ANSWER_WAIT_MS is
   * served from the cache (or null) while the refresh goes on in the background.
   */
  async state(searchId: string): Promise<LiveState | null> {
    const hit = this.cache.get(searchId);
    if (hit && Date.now() - hit.at < STATUS_TTL_MS) return hit.state;
    let refresh = this.refreshing.get(searchId);
    if (!refresh) {
      refresh = this.readState(searchId).finally(() => this.refreshing.delete(searchId));
      this.refreshing.set(searchId, refresh);
    }
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<LiveState | null>((resolve) => (timer = setTimeout(() => resolve(hit?.state ?? null), ANSWER_WAIT_MS)));
    return Promise.race([refresh, late]).finally(() => clearTimeout(timer));
  }

  private async readState(searchId: string): Promise<LiveState | null> {
    const client = await this.client();
    if (!client) return null;
    let state: LiveState | null = null;
    try {
      const handle = client.workflow.getHandle(searchId);
      const d = await withTimeout(handle.describe(), CALL_TIMEOUT_MS, 'describe');
      state = STATUS[d.status.name] ?? null;
      if (state === 'running') {
        // Paused / stopping come from the workflow's progress query (answered by a control worker; none may be up).
        const p = await withTimeout(handle.query(progressQuery), CALL_TIMEOUT_MS, 'progress query').catch(() => undefined);
        if (p?.paused) state = 'paused';
        else if (p?.stopping) state = 'stopping';
      }
    } catch (err) {
      if (!(err instanceof WorkflowNotFoundError)) {
        this.lost();
        return null;
      }
    }
    this.cache.set(searchId, { at: Date.now(), state });
    return state;
  }

  /** The Temporal Web UI address of the workflow (its latest run). */
  workflowUrl(searchId: string): string | null {
    return this.webUi ? `${this.webUi}/namespaces/${encodeURIComponent(this.namespace)}/workflows/${encodeURIComponent(searchId)}` : null;
  }

  /**
   * The Web UI address of the step that trained `candidate` (its trainNetwork activity, found by the summary the
   * workflow gives it: "train <name> …"), in whichever run of the search (one per stage) scheduled it.
   */
  async stepLink(searchId: string, candidate: string): Promise<StepLink | null> {
    if (!this.webUi) return null;
    const client = await this.client();
    if (!client) return null;
    try {
      const runs: { runId: string; closed: boolean }[] = [];
      const list = client.workflow.list({ query: `WorkflowId = "${searchId.replace(/"/g, '')}"` });
      await withTimeout(
        (async () => {
          for await (const wf of list) runs.push({ runId: wf.runId, closed: wf.status.name !== 'RUNNING' });
        })(),
        CALL_TIMEOUT_MS,
        'list',
      );
      for (const run of runs) {
        let steps = this.closedRuns.get(run.runId);
        if (!steps) {
          steps = new Map();
          const history = await withTimeout(client.workflow.getHandle(searchId, run.runId).fetchHistory(), 10_000, 'history');
          for (const e of history.events ?? []) {
            if (e.eventType !== EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED) continue;
            const summary = e.userMetadata?.summary?.data;
            if (!summary) continue;
            let text: unknown;
            try {
              text = JSON.parse(Buffer.from(summary).toString('utf8'));
            } catch {
              continue;
            }
            const m = typeof text === 'string' ? /^train (\S+) /.exec(text) : null;
            if (m) steps.set(m[1], String(e.eventId));
          }
          if (run.closed) this.closedRuns.set(run.runId, steps);
        }
        const eventId = steps.get(candidate);
        if (eventId) {
          return { url: `${this.workflowUrl(searchId)}/${encodeURIComponent(run.runId)}/history/events/${eventId}`, runId: run.runId, eventId };
        }
      }
    } catch {
      return null;
    }
    return null;
  }

  async close(): Promise<void> {
    await this.connecting?.catch(() => {});
    const c = this.conn;
    this.conn = null;
    await c?.connection.close().catch(() => {});
  }
}

// How the load generator speaks to each server under test, over the same keep-alive client
// (client.ts). Our server and the ceiling share our contract (GET /poll, POST /messages); the
// peers of #18 speak their own long-polling protocols: Socket.IO 4 over Engine.IO v4 polling,
// and Faye's Bayeux long-polling. Each is implemented just far enough for W1 and W3: a
// receiver holds a poll for its own user and gets the messages addressed to it; a sender sends
// to a user and learns whether the server took the message. The workloads (load.ts) check what
// arrives in the same way whatever the protocol.
import type http from 'node:http';
import { sleep } from '../test/support/util.js';
import { Client, type Endpoint, pool } from './client.js';

export interface Account {
  username: string;
  token: string;
  /** Our contract only: the stream position to poll from, carried from one phase to the next. */
  cursor: string;
}

/** A delivered message as every server under test shapes it (the peers' servers stamp it too). */
export interface Message {
  id: number;
  from: string;
  to: string;
  body: string;
}

export interface PollResult {
  /** null when the poll was answered as the protocol says a good one is; else what went wrong. */
  error: string | null;
  messages: Message[];
  /** Anything else the answer carried (events of other types): W3 wants none. */
  other: number;
}

export interface SendResult {
  /** null when the server acknowledged the message (our 201, Socket.IO's ack, Bayeux's successful reply). */
  error: string | null;
}

export interface Receiver {
  /** One held poll, answered by a message or at the end of the hold (about holdS). */
  poll(holdS: number, onRequest?: (req: http.ClientRequest) => void): Promise<PollResult>;
  /** Ends the session as a leaving client does (answering its held poll, if any). */
  close(): Promise<void>;
}

export interface Sender {
  send(to: string, body: string): Promise<SendResult>;
  close(): Promise<void>;
}

export interface Protocol {
  name: string;
  /** Opens a session per client (the peers); our contract needs none. */
  sessions: boolean;
  /**
   * The client says how long a poll is held (our `timeout=`, Bayeux's advice.timeout). Engine.IO
   * has no such thing: a held poll ends with data or the server's ping, nothing else.
   */
  holdPerRequest: boolean;
  /** Once per server before the workloads (our contract: every account's cursor to its stream's head). */
  prepare(ep: Endpoint, accounts: Account[]): Promise<void>;
  /** A receiver's session (the peers: handshake, then connect or subscribe), its polls on `polls`. */
  receiver(polls: Client, a: Account): Promise<Receiver>;
  /** A sender's session. `polls` for a protocol that answers a send on the sender's own held poll. */
  sender(polls: Client, sends: Client, a: Account): Promise<Sender>;
}

/** Client-side time-out of a held poll: the hold plus room for a slow server. */
const pollTimeoutMs = (holdS: number) => (holdS + 30) * 1000;
const errCode = (e: unknown) => (e as NodeJS.ErrnoException).code ?? 'network';

// ---------------------------------------------------------------------------------------------
// Our contract (our server and the ceiling).

interface PollBody {
  cursor: string;
  events: { type: string; message?: Message }[];
}

// An empty cursor leaves `since` out: the server starts from the device's stored cursor.
export const pollPath = (cursor: string, timeoutS: number) =>
  cursor === '' ? `/poll?timeout=${timeoutS}` : `/poll?since=${encodeURIComponent(cursor)}&timeout=${timeoutS}`;

/** Asks for the head of each account's stream (poll with timeout=0), a few at a time. */
export async function refreshCursors(ep: Endpoint, accounts: Account[]): Promise<void> {
  const client = new Client(ep, 16);
  await pool(accounts, 16, async (a) => {
    let rep = await client.request('GET', pollPath(a.cursor, 0), a.token);
    // Walk forward until the stream is drained (a no-op on a fresh account).
    while (rep.status === 200 && (rep.body as PollBody).events.length > 0) {
      a.cursor = (rep.body as PollBody).cursor;
      rep = await client.request('GET', pollPath(a.cursor, 0), a.token);
    }
    if (rep.status !== 200) throw new Error(`poll for ${a.username}: ${rep.status} ${JSON.stringify(rep.body)}`);
    a.cursor = (rep.body as PollBody).cursor;
  });
  client.close();
}

export const contract: Protocol = {
  name: 'contract',
  sessions: false,
  holdPerRequest: true,
  prepare: refreshCursors,
  receiver: async (polls, a) => ({
    async poll(holdS, onRequest) {
      const rep = await polls.request('GET', pollPath(a.cursor, holdS), a.token, undefined, pollTimeoutMs(holdS), onRequest);
      if (rep.status !== 200) return { error: String(rep.status), messages: [], other: 0 };
      const body = rep.body as PollBody;
      a.cursor = body.cursor;
      const messages: Message[] = [];
      let other = 0;
      for (const ev of body.events) {
        if (ev.type === 'message' && ev.message) messages.push(ev.message);
        else other++;
      }
      return { error: null, messages, other };
    },
    close: async () => {},
  }),
  sender: async (_polls, sends, a) => ({
    async send(to, body) {
      const rep = await sends.request('POST', '/messages', a.token, { to, body });
      return { error: rep.status === 201 ? null : String(rep.status) };
    },
    close: async () => {},
  }),
};

// ---------------------------------------------------------------------------------------------
// Socket.IO 4 over Engine.IO v4 long-polling (bench/peers/socketio.ts is the server).
//
// A session: GET /socket.io/?EIO=4&transport=polling answers `0{"sid":...}`; the client POSTs
// `40{"token":...}` (CONNECT to the main namespace with auth) and its next GET brings
// `40{"sid":...}` (or `44{...}`, refused). From then on the client keeps one GET held (the
// server answers it with whatever it has to send, or with a ping `2` at its ping interval,
// which the client answers by POSTing a pong `3`) and POSTs its packets, one POST at a time
// (a second one at once is an error that closes the session), several packets to a POST joined
// by the record separator \x1e. A send is an EVENT with an ack id, `42<id>["send",{to,body}]`;
// the server's ack, `43<id>[{message}]`, comes back on the sender's own held GET: so a sender
// holds a GET too, as every Socket.IO client does. A delivery is `42["message",{...}]`.

const EIO = '/socket.io/?EIO=4&transport=polling';
const RS = '\x1e';
const TEXT = { 'content-type': 'text/plain;charset=UTF-8' };

class EngineIoSession {
  private path = EIO;
  private pingIntervalS = 25;
  private queue: { packet: string; done: (e: string | null) => void }[] = [];
  private posting = false;
  private readonly acks = new Map<number, { resolve: (r: SendResult) => void; timer: NodeJS.Timeout }>();
  private nextAck = 0;
  private connected = false;
  closed = false;

  constructor(
    private readonly polls: Client,
    private readonly posts: Client,
    private readonly a: Account,
  ) {}

  async open(): Promise<void> {
    const hs = await this.polls.raw('GET', EIO, {}, undefined, 30_000);
    const text = String(hs.body);
    if (hs.status !== 200 || !text.startsWith('0')) throw new Error(`socket.io handshake: ${hs.status} ${text.slice(0, 80)}`);
    const open = JSON.parse(text.slice(1)) as { sid: string; pingInterval: number };
    this.path = `${EIO}&sid=${encodeURIComponent(open.sid)}`;
    this.pingIntervalS = open.pingInterval / 1000;
    const posted = await this.post(`40${JSON.stringify({ token: this.a.token })}`);
    if (posted) throw new Error(`socket.io connect: ${posted}`);
    const r = await this.poll();
    if (r.error || !this.connected) throw new Error(`socket.io connect: ${r.error ?? 'no CONNECT answer'}`);
  }

  /** One GET: held by the server until it has something to send (at the latest its ping). */
  async poll(onRequest?: (req: http.ClientRequest) => void): Promise<PollResult> {
    const rep = await this.polls.raw('GET', this.path, {}, undefined, pollTimeoutMs(this.pingIntervalS), onRequest);
    if (rep.status !== 200) return { error: String(rep.status), messages: [], other: 0 };
    const messages: Message[] = [];
    let error: string | null = null,
      other = 0;
    for (const p of String(rep.body).split(RS)) {
      if (p === '2')
        void this.post('3'); // ping: pong
      else if (p === '6')
        continue; // noop: answers a held GET when the session closes
      else if (p === '1') error = 'closed';
      else if (p.startsWith('42')) {
        const [name, data] = JSON.parse(p.slice(2)) as [string, Message];
        if (name === 'message') messages.push(data);
        else other++;
      } else if (p.startsWith('43')) {
        const i = p.indexOf('[');
        const id = Number(p.slice(2, i));
        const [answer] = JSON.parse(p.slice(i)) as [{ message?: Message; error?: string }];
        const ack = this.acks.get(id);
        if (ack) {
          this.acks.delete(id);
          clearTimeout(ack.timer);
          ack.resolve({ error: answer.message ? null : (answer.error ?? 'bad ack') });
        }
      } else if (p.startsWith('40')) this.connected = true;
      else if (p.startsWith('44')) error = `connect_error ${p.slice(2, 80)}`;
      else if (p.startsWith('41')) error = 'disconnected';
      else other++;
    }
    return { error, messages, other };
  }

  /** Queues a packet; POSTs go one at a time, with every packet queued meanwhile in one payload. */
  post(packet: string): Promise<string | null> {
    return new Promise((done) => {
      this.queue.push({ packet, done });
      if (!this.posting) void this.flush();
    });
  }

  private async flush(): Promise<void> {
    this.posting = true;
    while (this.queue.length > 0) {
      const batch = this.queue;
      this.queue = [];
      let error: string | null;
      try {
        const rep = await this.posts.raw('POST', this.path, { ...TEXT }, batch.map((b) => b.packet).join(RS), 30_000);
        error = rep.status === 200 ? null : String(rep.status);
      } catch (e) {
        error = errCode(e);
      }
      for (const b of batch) b.done(error);
    }
    this.posting = false;
  }

  send(to: string, body: string): Promise<SendResult> {
    const id = this.nextAck++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.acks.delete(id);
        resolve({ error: 'no ack within 60 s' });
      }, 60_000);
      this.acks.set(id, { resolve, timer });
      void this.post(`42${id}${JSON.stringify(['send', { to, body }])}`).then((e) => {
        if (e === null || !this.acks.delete(id)) return;
        clearTimeout(timer);
        resolve({ error: e });
      });
    });
  }

  /** A close packet: the server answers the held GET (noop) and drops the session. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const [id, ack] of this.acks) {
      this.acks.delete(id);
      clearTimeout(ack.timer);
      ack.resolve({ error: 'closed' });
    }
    await this.post('1');
  }
}

export const socketIo: Protocol = {
  name: 'socket.io',
  sessions: true,
  holdPerRequest: false,
  prepare: async () => {},
  async receiver(polls, a) {
    const s = new EngineIoSession(polls, polls, a);
    await s.open();
    // The hold is the server's ping interval: Engine.IO has no per-request hold.
    return { poll: (_holdS, onRequest) => s.poll(onRequest), close: () => s.close() };
  },
  async sender(polls, sends, a) {
    const s = new EngineIoSession(polls, sends, a);
    await s.open();
    // The sender's own held GET, which brings the acks of its sends.
    const loop = (async () => {
      while (!s.closed) {
        // An error here shows up as the sends' acks that never come.
        const ok = await s.poll().then(
          (r) => r.error === null,
          () => false,
        );
        // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- set by another task while this one awaits
        if (!ok && !s.closed) await sleep(50);
      }
    })();
    return {
      send: (to, body) => s.send(to, body),
      async close() {
        await s.close();
        await loop;
      },
    };
  },
};

// ---------------------------------------------------------------------------------------------
// Faye 1.4, Bayeux long-polling (bench/peers/faye.ts is the server). Every exchange is a POST
// of a JSON array of messages to /bayeux, answered with the replies: /meta/handshake gives a
// clientId; /meta/subscribe to the user's own channel (the token in `ext`, checked by the
// server's extension); /meta/connect is the held poll, answered with the messages published to
// the client's channels meanwhile, or empty after advice.timeout (the hold we ask for, as with
// our `timeout=`); a publish to /users/<name> is answered at once with `successful` (Bayeux's
// acknowledgement); /meta/disconnect ends the session.

const JSON_TYPE = { 'content-type': 'application/json' };
interface Bayeux {
  id?: string;
  channel: string;
  successful?: boolean;
  error?: string;
  clientId?: string;
  data?: Message;
}
export const channelOf = (username: string) => `/users/${username}`;

class BayeuxSession {
  private clientId = '';
  private n = 0;

  constructor(
    private readonly polls: Client,
    private readonly posts: Client,
    private readonly a: Account,
  ) {}

  private async exchange(
    c: Client,
    msg: Record<string, unknown>,
    timeoutMs = 30_000,
    onRequest?: (req: http.ClientRequest) => void,
  ): Promise<{ error: string | null; replies: Bayeux[] }> {
    const id = (++this.n).toString(36);
    const body = JSON.stringify([{ ...msg, id, ...(this.clientId ? { clientId: this.clientId } : {}) }]);
    const rep = await c.raw('POST', '/bayeux', { ...JSON_TYPE }, body, timeoutMs, onRequest);
    if (rep.status !== 200 || !Array.isArray(rep.body)) return { error: String(rep.status), replies: [] };
    const replies = rep.body as Bayeux[];
    // The reply to a message carries its id; deliveries (on a connect) carry none of ours.
    const own = replies.find((r) => r.id === id && r.channel.startsWith('/meta/') === String(msg.channel).startsWith('/meta/'));
    return { error: own?.successful ? null : (own?.error ?? 'no reply'), replies };
  }

  async open(subscribe: boolean): Promise<void> {
    const hs = await this.exchange(this.posts, { channel: '/meta/handshake', version: '1.0', supportedConnectionTypes: ['long-polling'] });
    this.clientId = hs.replies[0]?.clientId ?? '';
    if (hs.error || !this.clientId) throw new Error(`bayeux handshake: ${hs.error ?? 'no clientId'}`);
    if (!subscribe) return;
    const sub = await this.exchange(this.posts, {
      channel: '/meta/subscribe',
      subscription: channelOf(this.a.username),
      ext: { token: this.a.token },
    });
    if (sub.error) throw new Error(`bayeux subscribe: ${sub.error}`);
  }

  async poll(holdS: number, onRequest?: (req: http.ClientRequest) => void): Promise<PollResult> {
    const r = await this.exchange(
      this.polls,
      { channel: '/meta/connect', connectionType: 'long-polling', advice: { timeout: holdS * 1000 } },
      pollTimeoutMs(holdS),
      onRequest,
    );
    const mine = channelOf(this.a.username);
    const messages: Message[] = [];
    let other = 0;
    for (const m of r.replies) {
      if (m.channel.startsWith('/meta/')) continue;
      if (m.channel === mine && m.data) messages.push(m.data);
      else other++;
    }
    return { error: r.error, messages, other };
  }

  async send(to: string, body: string): Promise<SendResult> {
    const r = await this.exchange(this.posts, { channel: channelOf(to), data: { body }, ext: { token: this.a.token } });
    return { error: r.error };
  }

  async close(): Promise<void> {
    await this.exchange(this.posts, { channel: '/meta/disconnect' }).catch(() => undefined);
  }
}

export const bayeux: Protocol = {
  name: 'bayeux',
  sessions: true,
  holdPerRequest: true,
  prepare: async () => {},
  async receiver(polls, a) {
    const s = new BayeuxSession(polls, polls, a);
    await s.open(true);
    return { poll: (holdS, onRequest) => s.poll(holdS, onRequest), close: () => s.close() };
  },
  // A sender needs no held connect: Bayeux answers a publish in the POST's own reply.
  async sender(_polls, sends, a) {
    const s = new BayeuxSession(sends, sends, a);
    await s.open(false);
    return { send: (to, body) => s.send(to, body).catch((e: unknown) => ({ error: errCode(e) })), close: () => s.close() };
  },
};

// Faye 1.4 as a benchmark peer (#18): an in-memory Bayeux server, what someone would pick
// instead of our server for long polling, keeping nothing on disk. One channel per user,
// /users/<name>, mounted at /bayeux. An extension does what our server's authentication does:
// a subscription is allowed only to the channel of the user whose token is in `ext`; a publish
// needs a valid token and a channel of a known user, and its data is replaced by the message
// as our contract shapes it (id, from, to, body, sent_at). The token is removed before the
// message goes on, so no subscriber sees it. Faye's own settings are its defaults; a connect's
// hold is the advice.timeout the client asks for, as our `timeout=`.
import { byName, byToken, httpServer, listen, type Message, names, requirePeer, stamp } from './common.js';

interface BayeuxMessage {
  channel: string;
  subscription?: unknown;
  data?: { body?: unknown } | Message;
  ext?: { token?: unknown };
  error?: string;
}
interface Adapter {
  addExtension(ext: { incoming(m: BayeuxMessage, callback: (m: BayeuxMessage) => void): void }): void;
  attach(server: unknown): void;
  close(): void;
}
const faye = requirePeer('faye') as { NodeAdapter: new (options: { mount: string }) => Adapter };

const PREFIX = '/users/';
const bayeux = new faye.NodeAdapter({ mount: '/bayeux' });
bayeux.addExtension({
  incoming(m, callback) {
    const user = byToken.get(String(m.ext?.token));
    delete m.ext;
    if (m.channel === '/meta/subscribe') {
      if (user === undefined || m.subscription !== `${PREFIX}${names[user]}`) m.error = '403::forbidden';
    } else if (!m.channel.startsWith('/meta/')) {
      const to = m.channel.startsWith(PREFIX) ? byName.get(m.channel.slice(PREFIX.length)) : undefined;
      const body = m.data?.body;
      if (user === undefined) m.error = '401::unauthorized';
      else if (to === undefined) m.error = '404::user_not_found';
      else if (typeof body !== 'string' || !body.trim()) m.error = '400::invalid_request';
      else m.data = stamp(user, to, body);
    }
    callback(m);
  },
});
const server = httpServer();
bayeux.attach(server);
listen(server, (done) => {
  bayeux.close();
  server.closeAllConnections();
  server.close(done);
});

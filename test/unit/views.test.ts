// The texts a send is answered and published with (src/views.ts, messageTexts, #18) are made
// apart from the views every other answer serializes: they must be the same JSON, byte for byte.
import assert from 'node:assert/strict';
import type { MessageRow } from '../../src/types';
import { messageEventJson, messageEventText, messageTexts, messageView } from '../../src/views';

const base: MessageRow = {
  id: 42,
  senderId: 1,
  recipientId: 2,
  groupId: null,
  from: 'alice',
  to: 'bob',
  body: 'hi "bob"\n\\ \u2028 é 😀 </script>',
  clientId: 'c-1',
  sentAt: Date.UTC(2026, 11, 3, 16, 20, 0, 123),
};

const rows: [string, MessageRow][] = [
  ['a 1:1 message with a client_id', base],
  ['a 1:1 message without one', { ...base, clientId: null }],
  ['a group message', { ...base, recipientId: null, to: null, groupId: 7 }],
  ['a message to oneself', { ...base, recipientId: 1, to: 'alice' }],
];

describe('message texts (unit, #18)', () => {
  for (const [what, m] of rows) {
    it(`${what}: the sender's text and everyone else's are the views' JSON`, () => {
      const t = messageTexts(m);
      assert.equal(t.sender, JSON.stringify(messageView(m, m.senderId)));
      assert.equal(t.others, JSON.stringify(messageView(m, 99)));
      assert.equal(JSON.parse(t.others).client_id, null);
      assert.equal(JSON.parse(t.sender).client_id, m.clientId);
    });

    it(`${what}: an event made from a text is the event of the view`, () => {
      const t = messageTexts(m);
      assert.equal(messageEventText(t.sender), JSON.stringify({ type: 'message', message: messageView(m, m.senderId) }));
      assert.equal(messageEventText(t.others), messageEventJson(m, 99));
    });
  }
});

// Search in history (issue #17): the Store's search, as one test body for every backend
// (storeContract runs it). The rules are the contract's ("Search" in the HTTP contract): every
// word, at the start of a word, case-insensitive; anywhere in scripts written without spaces;
// user text never query syntax; newest first, paged; and only what the caller may see.
import assert from 'node:assert/strict';
import type { SearchQuery, Store } from '../../src/store';
import type { HistoryPage, User } from '../../src/types';
import type { StoreFactory } from './store-contract';

export function searchContract(backend: string, factory: StoreFactory): void {
  describe(`Store contract, search: ${backend} (#17)`, () => {
    let store: Store;
    let alice: User;
    let bob: User;
    let carol: User;

    beforeEach(async () => {
      store = await factory.open();
      alice = (await store.createUser('alice', 'hash-a')) ?? assert.fail('alice');
      bob = (await store.createUser('bob', 'hash-b')) ?? assert.fail('bob');
      carol = (await store.createUser('carol', 'hash-c')) ?? assert.fail('carol');
    });
    afterEach(() => store.close());

    async function send(from: User, to: User, body: string, clientId: string | null = null): Promise<number> {
      const r = await store.sendMessage({ sender: from, recipient: to, body, clientId });
      return r.status === 'created' ? r.message.id : assert.fail(`not stored: ${r.status}`);
    }

    /** A search that must be answered (not a group the user is outside of). */
    async function searchPage(userId: number, q: SearchQuery): Promise<HistoryPage> {
      return (await store.search(userId, q)) ?? assert.fail('no page');
    }

    /** The bodies alice finds for these words (newest first). */
    async function found(words: string[], q: Partial<SearchQuery> = {}, who: User = alice): Promise<string[]> {
      const page = await searchPage(who.id, { words, limit: 100, ...q });
      return page.messages.map((m) => m.body);
    }

    it('finds every word at the start of a word, in any case, newest first; never inside a word', async () => {
      await send(alice, bob, 'Hello world');
      await send(bob, alice, 'a shell script');
      await send(alice, bob, 'HELLO again, hello');
      await send(bob, alice, 'Say hello to the World');
      assert.deepEqual(await found(['hel']), ['Say hello to the World', 'HELLO again, hello', 'Hello world']);
      assert.deepEqual(await found(['HEL']), await found(['hel']));
      assert.deepEqual(await found(['ell']), [], '"ell" is inside "hello" and "shell", at the start of neither');
      assert.deepEqual(await found(['shell']), ['a shell script']);
      assert.deepEqual(await found(['hello', 'WORLD']), ['Say hello to the World', 'Hello world'], 'every word, in any order');
      assert.deepEqual(await found(['hello', 'nowhere']), []);
    });

    it('folds diacritics and compatibility forms: "cafe" finds "Café", full-width finds ASCII', async () => {
      await send(alice, bob, 'Café au lait');
      await send(alice, bob, 'ｆｕｌｌ ｗｉｄｔｈ');
      await send(alice, bob, 'naïve Zoë');
      assert.deepEqual(await found(['cafe']), ['Café au lait']);
      assert.deepEqual(await found(['CAFÉ']), ['Café au lait']);
      assert.deepEqual(await found(['full', 'width']), ['ｆｕｌｌ ｗｉｄｔｈ']);
      assert.deepEqual(await found(['ｎａｉｖｅ']), ['naïve Zoë']);
      assert.deepEqual(await found(['zoe']), ['naïve Zoë']);
    });

    it('a long prefix finds every word it starts, however many there are, in any case or accent', async () => {
      for (let i = 0; i < 70; i++) await send(alice, bob, `Zetaword${i} résumé`);
      await send(alice, bob, 'RESUME the zeta');
      assert.equal((await found(['zetaw'])).length, 70, 'more words than a backend may list one by one');
      assert.equal((await found(['zetaword6'])).length, 11, 'zetaword6 and zetaword60 to zetaword69');
      assert.equal((await found(['zeta'])).length, 71);
      assert.equal((await found(['résu'])).length, 71);
      assert.equal((await found(['RESUMÉ', 'zeta'])).length, 71);
      assert.deepEqual(await found(['resum', 'the']), ['RESUME the zeta']);
    });

    it('in scripts written without spaces a word matches anywhere, its characters side by side', async () => {
      await send(alice, bob, '今天开会');
      await send(bob, alice, '会议在今天下午三点');
      await send(alice, bob, 'コーヒーを飲みましょう');
      await send(bob, alice, 'meeting今天 at 3');
      await send(alice, bob, 'สวัสดีครับ');
      assert.deepEqual(await found(['开会']), ['今天开会'], 'in the middle of the sentence');
      assert.deepEqual(await found(['今天']), ['meeting今天 at 3', '会议在今天下午三点', '今天开会']);
      assert.deepEqual(await found(['会议']), ['会议在今天下午三点'], 'side by side: 今天开会 has 会 but not 会议');
      assert.deepEqual(await found(['开']), ['今天开会'], 'one character is a word too');
      assert.deepEqual(await found(['今天', '三点']), ['会议在今天下午三点']);
      assert.deepEqual(await found(['飲み']), ['コーヒーを飲みましょう']);
      assert.deepEqual(await found(['ヒー']), ['コーヒーを飲みましょう'], 'the long-vowel mark goes with its script');
      assert.deepEqual(await found(['meet', '今天']), ['meeting今天 at 3'], 'mixed scripts');
      assert.deepEqual(await found(['ครับ']), ['สวัสดีครับ'], 'Thai too');
    });

    it('user text is never query syntax: quotes, *, %, _, operators and column names are plain text', async () => {
      await send(alice, bob, 'hello there');
      await send(alice, bob, '50% off_sale *now* "quoted" NEAR the OR gate');
      await send(bob, carol, 'hello from a conversation alice is not in');
      const hostile = [
        ['"'],
        ['""hello'],
        ['hello"', 'OR', '"zzz'],
        ['hello', 'OR', 'zzz'],
        ['NOT', 'hello'],
        ['hello', 'NOT', 'there'],
        ['-hello'],
        ['^hello'],
        ['hello*'],
        ['NEAR(hello', 'there)'],
        ['(hello)'],
        ['{body}:', 'hello'],
        ['body:hello'],
        [`scope:u${bob.id}`],
        [`u${bob.id}`],
        [`c${Math.min(bob.id, carol.id)}x${Math.max(bob.id, carol.id)}`],
        ['hello', 'AND', 'zzz'],
        ['hello+there'],
        ['%'],
        ['_'],
        ['*'],
        ["'; DROP TABLE messages; --"],
      ];
      for (const words of hostile) {
        const bodies = await found(words);
        // What a plain-text reading of the words allows, nothing more: no operator widened it.
        for (const b of bodies) assert.ok(b.startsWith('hello there') || b.startsWith('50%'), `${JSON.stringify(words)} found ${b}`);
      }
      assert.deepEqual(await found(['hello', 'OR', 'zzz']), [], 'OR is a word alice never wrote, not an operator');
      assert.deepEqual(await found(['hello', 'NOT', 'there']), [], 'NOT is a word too');
      assert.deepEqual(await found(['"hello"']), ['hello there'], 'quotes are punctuation');
      assert.deepEqual(await found(['NEAR', 'OR']), ['50% off_sale *now* "quoted" NEAR the OR gate']);
      assert.deepEqual(await found(['50%']), ['50% off_sale *now* "quoted" NEAR the OR gate']);
      assert.deepEqual(await found(['off_sale']), ['50% off_sale *now* "quoted" NEAR the OR gate']);
      assert.deepEqual(await found(['*now*']), ['50% off_sale *now* "quoted" NEAR the OR gate']);
      assert.deepEqual(await found([`scope:u${bob.id}`]), []);
      assert.deepEqual(await found(['hello*']), ['hello there'], 'a star is not a wider prefix');
    });

    it('pages newest first with before; has_more is exact at the boundary', async () => {
      const ids: number[] = [];
      for (let i = 0; i < 7; i++) {
        ids.push(await send(i % 2 ? bob : alice, i % 2 ? alice : bob, `report ${i}`));
        await send(alice, bob, `noise ${i}`);
      }
      const page = (q: Partial<SearchQuery>) => searchPage(alice.id, { words: ['report'], limit: 3, ...q });
      const ids_ = (p: { messages: { id: number }[] }) => p.messages.map((m) => m.id);
      const first = await page({});
      assert.deepEqual(ids_(first), [ids[6], ids[5], ids[4]]);
      assert.equal(first.hasMore, true);
      const second = await page({ before: ids[4] });
      assert.deepEqual(ids_(second), [ids[3], ids[2], ids[1]]);
      assert.equal(second.hasMore, true);
      const last = await page({ before: ids[1] });
      assert.deepEqual(ids_(last), [ids[0]]);
      assert.equal(last.hasMore, false);
      const exact = await page({ before: ids[3], limit: 3 });
      assert.deepEqual(ids_(exact), [ids[2], ids[1], ids[0]]);
      assert.equal(exact.hasMore, false, 'exactly limit older matches: nothing more');
      const m = first.messages[0] ?? assert.fail('no message');
      assert.deepEqual(
        { from: m.from, to: m.to, body: m.body, senderId: m.senderId, recipientId: m.recipientId },
        { from: 'alice', to: 'bob', body: 'report 6', senderId: alice.id, recipientId: bob.id },
      );
    });

    it('narrows to one conversation, notes to self included', async () => {
      await send(alice, bob, 'plan with bob');
      await send(carol, alice, 'plan with carol');
      await send(alice, alice, 'plan for myself');
      assert.deepEqual(await found(['plan']), ['plan for myself', 'plan with carol', 'plan with bob']);
      assert.deepEqual(await found(['plan'], { peerId: bob.id }), ['plan with bob']);
      assert.deepEqual(await found(['plan'], { peerId: carol.id }), ['plan with carol']);
      assert.deepEqual(await found(['plan'], { peerId: alice.id }), ['plan for myself']);
    });

    it("never finds another people's conversation, however it is asked (authorization)", async () => {
      await send(bob, carol, 'the vault code is zebra');
      await send(carol, bob, 'zebra zebra');
      await send(alice, bob, 'nothing to see');
      assert.deepEqual(await found(['zebra']), []);
      assert.deepEqual(await found(['zebra'], { peerId: bob.id }), [], 'narrowed to a peer of the conversation');
      assert.deepEqual(await found(['zebra'], { peerId: carol.id }), []);
      assert.deepEqual(await found(['zebra'], {}, bob), ['zebra zebra', 'the vault code is zebra'], 'its members do find it');
      assert.deepEqual(await found(['zebra'], { peerId: bob.id }, carol), ['zebra zebra', 'the vault code is zebra']);
    });

    it('finds the messages of the groups the caller is in now, from before they joined too; group narrows (#15)', async () => {
      const made = await store.createGroup(bob, 'class 3b', [carol], { groupMembersMax: 10, groupsPerUserMax: 10 });
      const groupId = made.status === 'changed' ? made.group.id : assert.fail(made.status);
      const other = await store.createGroup(carol, 'no alice here', [bob], { groupMembersMax: 10, groupsPerUserMax: 10 });
      const otherId = other.status === 'changed' ? other.group.id : assert.fail(other.status);
      const say = async (from: User, gid: number, body: string) => {
        const r = await store.sendGroupMessage({ sender: from, groupId: gid, body, clientId: null });
        assert.equal(r.status, 'created');
      };
      await say(bob, groupId, 'picnic on friday');
      await say(carol, otherId, 'picnic without alice');
      await send(bob, alice, 'picnic? ask carol');
      assert.deepEqual(await found(['picnic']), ['picnic? ask carol'], 'not a member of either group yet');
      assert.equal(await store.search(alice.id, { words: ['picnic'], limit: 10, groupId }), null, 'narrowed to a group she is not in');
      assert.equal((await store.addGroupMember(bob, groupId, alice, { groupMembersMax: 10, groupsPerUserMax: 10 })).status, 'changed');
      await say(alice, groupId, 'picnic: I bring bread');
      assert.deepEqual(
        await found(['picnic']),
        ['picnic: I bring bread', 'picnic? ask carol', 'picnic on friday'],
        'from before she joined',
      );
      assert.deepEqual(await found(['picnic'], { groupId }), ['picnic: I bring bread', 'picnic on friday']);
      assert.deepEqual(await found(['picnic'], { groupId }, carol), ['picnic: I bring bread', 'picnic on friday']);
      assert.equal(await store.search(alice.id, { words: ['picnic'], limit: 10, groupId: otherId }), null);
      assert.equal(await store.search(alice.id, { words: ['picnic'], limit: 10, groupId: 987654 }), null, 'no such group: the same');
      // Removed: nothing of the group is found any more, not even what she wrote there.
      assert.equal((await store.removeGroupMember(bob, groupId, alice)).status, 'changed');
      assert.deepEqual(await found(['picnic']), ['picnic? ask carol']);
      assert.deepEqual(await found(['bread']), []);
      assert.equal(await store.search(alice.id, { words: ['picnic'], limit: 10, groupId }), null);
      assert.deepEqual(await found(['bread'], {}, bob), ['picnic: I bring bread'], 'the members still find it');
    });

    it('finds a message from the commit that stores it; a refused send leaves nothing to find', async () => {
      await send(alice, bob, 'first version', 'k1');
      const conflict = await store.sendMessage({ sender: alice, recipient: bob, body: 'second version', clientId: 'k1' });
      assert.equal(conflict.status, 'conflict');
      const retry = await store.sendMessage({ sender: alice, recipient: bob, body: 'first version', clientId: 'k1' });
      assert.equal(retry.status, 'existing');
      assert.deepEqual(await found(['version']), ['first version'], 'indexed once, and nothing of the refused send');
    });

    it('stops within the answer budget, never before the first match', async () => {
      const long = 'x'.repeat(3999);
      for (let i = 0; i < 80; i++) await send(alice, bob, `needle ${long}`);
      const page = await searchPage(alice.id, { words: ['needle'], limit: 100 });
      assert.ok(page.messages.length > 0 && page.messages.length < 80, `${page.messages.length} messages`);
      assert.equal(page.hasMore, true);
    });
  });
}

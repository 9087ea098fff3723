// Group conversations over HTTP (issue #15): every group endpoint, sends, history, the
// conversation list and read markers of groups, and every error they answer.
import assert from 'node:assert/strict';
import { expectError, logIn, newUser, send, startApp, type TestApp } from '../support/app';
import { drain, type GroupBody, groupSend, makeGroup, sentToGroup, short } from '../support/groups';

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

describe('groups (HTTP, #15)', () => {
  let t: TestApp;
  beforeEach(async () => {
    t = await startApp({ RATE_MESSAGES_USER: 'off', GROUP_MEMBERS_MAX: '4', RATE_GROUPS_USER: '5/3600' });
  });
  afterEach(() => t.close());

  describe('POST /groups, GET /groups, GET /groups/ID', () => {
    it('creates a group: the caller owns it, members join in the order given, members sorted', async () => {
      const a = await newUser(t, 'zed');
      const b = await newUser(t, 'bob');
      const c = await newUser(t, 'carol');
      const res = await t
        .http()
        .post('/groups')
        .set(a.auth)
        .send({ name: 'class 3b', members: [c.username.toUpperCase(), b.username, c.username] })
        .expect(201);
      const g = res.body.group as GroupBody;
      assert.deepEqual(Object.keys(g).sort(), ['created_at', 'id', 'members', 'name', 'owner']);
      assert.ok(Number.isInteger(g.id));
      assert.equal(g.name, 'class 3b');
      assert.equal(g.owner, a.username);
      assert.deepEqual(g.members, [a.username, b.username, c.username].sort());
      assert.match(g.created_at, ISO);
      assert.deepEqual((await t.http().get(`/groups/${g.id}`).set(b.auth).expect(200)).body, { group: g });
      assert.deepEqual((await t.http().get('/groups').set(c.auth).expect(200)).body, { groups: [g] });
      // Join order: a, c, b. When a leaves, c (joined before b) owns it.
      await t.http().delete(`/groups/${g.id}/members/${a.username}`).set(a.auth).expect(204);
      assert.equal((await t.http().get(`/groups/${g.id}`).set(b.auth).expect(200)).body.group.owner, c.username);
    });

    it('takes members from a form, repeated or comma-separated, and a group of one', async () => {
      const a = await newUser(t);
      const b = await newUser(t);
      const c = await newUser(t);
      const repeated = await t
        .http()
        .post('/groups')
        .type('form')
        .send(`name=r&members=${b.username}&members=${c.username}&access_token=${a.token}`)
        .expect(201);
      assert.deepEqual(repeated.body.group.members, [a.username, b.username, c.username].sort());
      const comma = await t.http().post('/groups').set(a.auth).type('form').send(`name=c&members=${b.username},+${c.username}`).expect(201);
      assert.deepEqual(comma.body.group.members, [a.username, b.username, c.username].sort());
      const alone = await t.http().post('/groups').set(a.auth).send({ name: 'notes' }).expect(201);
      assert.deepEqual(alone.body.group.members, [a.username]);
    });

    it('refuses bad names and member lists with 400 naming the field, and creates nothing', async () => {
      const a = await newUser(t);
      for (const [body, field] of [
        [{}, 'name'],
        [{ name: '' }, 'name'],
        [{ name: ' \n\t' }, 'name'],
        [{ name: 'x'.repeat(65) }, 'name'],
        [{ name: 5 }, 'name'],
        [{ name: 'ok', members: [5] }, 'members'],
        [{ name: 'ok', members: { a: 1 } }, 'members'],
      ] as const) {
        const res = await t.http().post('/groups').set(a.auth).send(body);
        expectError(res, 400, 'invalid_request');
        assert.match(res.body.error.message, new RegExp(`^${field}:`));
      }
      await t
        .http()
        .post('/groups')
        .set(a.auth)
        .send({ name: '😀'.repeat(64) })
        .expect(201); // 64 characters
      assert.equal((await t.http().get('/groups').set(a.auth).expect(200)).body.groups.length, 1);
    });

    it('an unknown member is 404 user_not_found and nothing is created; past the limit 409 group_full naming it', async () => {
      const a = await newUser(t);
      const b = await newUser(t);
      expectError(
        await t
          .http()
          .post('/groups')
          .set(a.auth)
          .send({ name: 'g', members: [b.username, 'nobody'] }),
        404,
        'user_not_found',
      );
      const crowd = [b.username, 'x1', 'x2', 'x3', 'x4'];
      const full = await t.http().post('/groups').set(a.auth).send({ name: 'g', members: crowd });
      expectError(full, 409, 'group_full');
      assert.match(full.body.error.message, /4 members/);
      assert.deepEqual((await t.http().get('/groups').set(a.auth).expect(200)).body.groups, []);
      assert.deepEqual((await t.http().get('/groups').set(b.auth).expect(200)).body.groups, []);
      assert.deepEqual((await drain(t, b, b.cursor)).events, [], 'no event for what was not made');
    });

    it('limits the groups a user creates per hour: 429 rate_limited naming the limit, with Retry-After', async () => {
      const a = await newUser(t);
      expectError(
        await t
          .http()
          .post('/groups')
          .set(a.auth)
          .send({ name: 'g', members: ['nobody'] }),
        404,
        'user_not_found',
      );
      for (let i = 0; i < 5; i++)
        await t
          .http()
          .post('/groups')
          .set(a.auth)
          .send({ name: `g${i}` })
          .expect(201);
      const res = await t.http().post('/groups').set(a.auth).send({ name: 'one too many' });
      expectError(res, 429, 'rate_limited');
      assert.match(res.body.error.message, /at most 5 groups per hour/);
      assert.ok(Number(res.headers['retry-after']) > 0);
      await t
        .http()
        .post('/groups')
        .set((await newUser(t)).auth)
        .send({ name: 'someone else' })
        .expect(201);
    });

    it('lists groups by their latest message, a group with none by its creation; renames and changes do not count', async () => {
      const a = await newUser(t);
      const b = await newUser(t);
      const first = await makeGroup(t, a, 'first', [b]);
      const second = await makeGroup(t, a, 'second');
      const names = async () => ((await t.http().get('/groups').set(a.auth).expect(200)).body.groups as GroupBody[]).map((g) => g.name);
      assert.deepEqual(await names(), ['second', 'first']);
      await sentToGroup(t, b, first.id, 'hi');
      assert.deepEqual(await names(), ['first', 'second']);
      const third = await makeGroup(t, a, 'third');
      assert.deepEqual(await names(), ['third', 'first', 'second']);
      await t.http().post(`/groups/${second.id}`).set(a.auth).send({ name: 'renamed' }).expect(200);
      await t.http().post(`/groups/${third.id}/members`).set(a.auth).send({ username: b.username }).expect(200);
      assert.deepEqual(await names(), ['third', 'first', 'renamed']);
    });
  });

  describe('rename, add, leave, remove', () => {
    it('any member renames (an event to every member), adds (already a member: 200, no event)', async () => {
      const a = await newUser(t);
      const b = await newUser(t);
      const c = await newUser(t);
      const g = await makeGroup(t, a, 'old', [b]);
      const renamed = await t.http().post(`/groups/${g.id}`).set(b.auth).send({ name: 'new' }).expect(200);
      assert.equal(renamed.body.group.name, 'new');
      expectError(await t.http().post(`/groups/${g.id}`).set(b.auth).send({ name: '  ' }), 400, 'invalid_request');
      const added = await t.http().post(`/groups/${g.id}/members`).set(b.auth).send({ username: c.username.toUpperCase() }).expect(200);
      assert.deepEqual(added.body.group.members, [a.username, b.username, c.username].sort());
      await t.http().post(`/groups/${g.id}/members`).set(a.auth).send({ username: c.username }).expect(200);
      expectError(await t.http().post(`/groups/${g.id}/members`).set(a.auth).send({ username: 'nobody' }), 404, 'user_not_found');
      expectError(await t.http().post(`/groups/${g.id}/members`).set(a.auth).send({}), 400, 'invalid_request');
      const events = (await drain(t, a, a.cursor)).events;
      assert.deepEqual(events.map(short), [
        `group created old [${[a.username, b.username].sort().join(',')}] owner ${a.username}`,
        `group renamed new [${[a.username, b.username].sort().join(',')}] owner ${a.username}`,
        `group added new [${[a.username, b.username, c.username].sort().join(',')}] owner ${a.username}`,
      ]);
      assert.deepEqual(events[2]?.change, { action: 'added', by: b.username, user: c.username });
      assert.deepEqual(
        (await drain(t, c, c.cursor)).events.map(short),
        [`group added new [${[a.username, b.username, c.username].sort().join(',')}] owner ${a.username}`],
        'the new member gets the event that added them, and nothing from before',
      );
    });

    it('adding past the limit is 409 group_full naming the limit', async () => {
      const a = await newUser(t);
      const others = [await newUser(t), await newUser(t), await newUser(t)];
      const g = await makeGroup(t, a, 'g', others);
      const res = await t
        .http()
        .post(`/groups/${g.id}/members`)
        .set(a.auth)
        .send({ username: (await newUser(t)).username });
      expectError(res, 409, 'group_full');
      assert.match(res.body.error.message, /at most 4 members/);
    });

    it('a member leaves; only the owner removes others (403); DELETE also as POST with an override', async () => {
      const a = await newUser(t);
      const b = await newUser(t);
      const c = await newUser(t);
      const d = await newUser(t);
      const g = await makeGroup(t, a, 'g', [b, c, d]);
      expectError(await t.http().delete(`/groups/${g.id}/members/${c.username}`).set(b.auth), 403, 'forbidden');
      expectError(await t.http().delete(`/groups/${g.id}/members/nobody`).set(a.auth), 404, 'not_found');
      await t.http().post(`/groups/${g.id}/members/${b.username}`).set(b.auth).send({ _method: 'DELETE' }).expect(204);
      await t.http().post(`/groups/${g.id}/members/${c.username}`).set(a.auth).set('X-HTTP-Method-Override', 'DELETE').expect(204);
      expectError(await t.http().delete(`/groups/${g.id}/members/${c.username}`).set(a.auth), 404, 'not_found');
      assert.deepEqual((await t.http().get(`/groups/${g.id}`).set(a.auth).expect(200)).body.group.members, [a.username, d.username].sort());
      const bEvents = (await drain(t, b, b.cursor)).events;
      assert.deepEqual(bEvents.at(-1)?.change, { action: 'left', by: b.username, user: b.username });
      assert.ok(!(bEvents.at(-1)?.group as GroupBody).members.includes(b.username));
      const cEvents = (await drain(t, c, c.cursor)).events;
      assert.deepEqual(cEvents.at(-1)?.change, { action: 'removed', by: a.username, user: c.username });
    });

    it('the owner leaving hands over to the earliest member; the last member leaving ends the group', async () => {
      const a = await newUser(t);
      const b = await newUser(t);
      const c = await newUser(t);
      const g = await makeGroup(t, a, 'g', [b, c]);
      await t.http().delete(`/groups/${g.id}/members/${a.username}`).set(a.auth).expect(204);
      assert.equal((await t.http().get(`/groups/${g.id}`).set(c.auth).expect(200)).body.group.owner, b.username);
      await t.http().delete(`/groups/${g.id}/members/${c.username}`).set(b.auth).expect(204); // the new owner removes
      await t.http().delete(`/groups/${g.id}/members/${b.username}`).set(b.auth).expect(204);
      const last = (await drain(t, b, b.cursor)).events.at(-1);
      assert.deepEqual(last?.group, { ...g, members: [], owner: null });
      for (const who of [a, b, c]) {
        expectError(await t.http().get(`/groups/${g.id}`).set(who.auth), 404, 'not_found');
        assert.deepEqual((await t.http().get('/groups').set(who.auth).expect(200)).body.groups, []);
      }
    });
  });

  describe('messages, history, conversations and read markers of groups', () => {
    it('sends to a group: MESSAGE has the group and "to": null; exactly one of to and group', async () => {
      const a = await newUser(t);
      const b = await newUser(t);
      const g = await makeGroup(t, a, 'g', [b]);
      const res = await groupSend(t, a, g.id, 'hello group', 'k1').expect(201);
      const m = res.body.message;
      assert.deepEqual(Object.keys(m).sort(), ['body', 'client_id', 'from', 'group', 'id', 'sent_at', 'to']);
      assert.deepEqual([m.from, m.to, m.group, m.body, m.client_id], [a.username, null, g.id, 'hello group', 'k1']);
      const form = await t
        .http()
        .post('/messages')
        .type('form')
        .send(`group=${g.id}&body=${encodeURIComponent('a+b & c')}&access_token=${b.token}`);
      assert.equal(form.status, 201);
      assert.equal(form.body.message.body, 'a+b & c');
      for (const body of [
        { to: b.username, group: g.id, body: 'both' },
        { body: 'neither' },
        { group: 'seven', body: 'x' },
        { group: 0, body: 'x' },
        { group: [g.id, g.id], body: 'x' },
        { group: g.id, body: ' ' },
      ]) {
        expectError(await t.http().post('/messages').set(a.auth).send(body), 400, 'invalid_request');
      }
      expectError(await groupSend(t, a, g.id + 1000, 'nowhere'), 404, 'not_found');
    });

    it('idempotent by client_id: a retry is 200 with the original; another group or a user is 409', async () => {
      const a = await newUser(t);
      const b = await newUser(t);
      const g = await makeGroup(t, a, 'g', [b]);
      const h = await makeGroup(t, a, 'h', [b]);
      const first = await groupSend(t, a, g.id, 'once', 'c1').expect(201);
      const retry = await groupSend(t, a, g.id, 'once', 'c1').expect(200);
      assert.deepEqual(retry.body, first.body);
      expectError(await groupSend(t, a, h.id, 'once', 'c1'), 409, 'client_id_reused');
      expectError(await groupSend(t, a, g.id, 'changed', 'c1'), 409, 'client_id_reused');
      expectError(
        await t.http().post('/messages').set(a.auth).send({ to: b.username, body: 'once', client_id: 'c1' }),
        409,
        'client_id_reused',
      );
      await send(t, a, b.username, 'pair', 'c2');
      expectError(await groupSend(t, a, g.id, 'pair', 'c2'), 409, 'client_id_reused');
      const racing = await Promise.all(Array.from({ length: 6 }, () => groupSend(t, a, h.id, 'race', 'r1')));
      assert.deepEqual(racing.map((r) => r.status).sort(), [200, 200, 200, 200, 200, 201]);
      assert.equal(new Set(racing.map((r) => r.body.message.id)).size, 1);
      const history = await t.http().get(`/messages?group=${h.id}`).set(b.auth).expect(200);
      assert.deepEqual(
        history.body.messages.map((m: { body: string }) => m.body),
        ['race'],
      );
    });

    it('GET /messages?group= pages the whole history, from before a member joined too', async () => {
      const a = await newUser(t);
      const b = await newUser(t);
      const c = await newUser(t);
      const g = await makeGroup(t, a, 'g', [b]);
      const ids: number[] = [];
      for (let i = 0; i < 5; i++) ids.push((await sentToGroup(t, i % 2 ? b : a, g.id, `m${i}`)).id);
      await send(t, a, b.username, 'a 1:1 message is not in the group');
      await t.http().post(`/groups/${g.id}/members`).set(b.auth).send({ username: c.username }).expect(200);
      const page = await t.http().get(`/messages?group=${g.id}&limit=3`).set(c.auth).expect(200);
      assert.deepEqual(
        page.body.messages.map((m: { id: number }) => m.id),
        ids.slice(2),
      );
      assert.equal(page.body.has_more, true);
      assert.equal(page.body.messages[0].client_id, null);
      const older = await t.http().get(`/messages?group=${g.id}&limit=3&before=${ids[2]}`).set(c.auth).expect(200);
      assert.deepEqual([older.body.messages.map((m: { id: number }) => m.id), older.body.has_more], [ids.slice(0, 2), false]);
      const after = await t.http().get(`/messages?group=${g.id}&after=${ids[0]}&limit=2`).set(c.auth).expect(200);
      assert.deepEqual([after.body.messages.map((m: { id: number }) => m.id), after.body.has_more], [ids.slice(1, 3), true]);
      expectError(await t.http().get(`/messages?group=${g.id}&with=${a.username}`).set(c.auth), 400, 'invalid_request');
      expectError(await t.http().get(`/messages?group=x`).set(c.auth), 400, 'invalid_request');
      expectError(await t.http().get(`/messages`).set(c.auth), 400, 'invalid_request');
      expectError(
        await t
          .http()
          .get(`/messages?group=${g.id + 1000}`)
          .set(c.auth),
        404,
        'not_found',
      );
    });

    it('GET /conversations lists groups beside 1:1 conversations, the most recent first, with unread counts', async () => {
      const a = await newUser(t);
      const b = await newUser(t);
      const g = await makeGroup(t, a, 'g', [b]);
      await send(t, b, a.username, 'pair');
      const empty = await makeGroup(t, a, 'empty');
      await sentToGroup(t, b, g.id, 'in the group');
      await sentToGroup(t, a, g.id, 'mine');
      await sentToGroup(t, b, g.id, 'again');
      const list = (await t.http().get('/conversations').set(a.auth).expect(200)).body.conversations;
      assert.deepEqual(
        list.map((c: { with?: string; group?: GroupBody; unread: number; last_message: { body: string } | null }) => [
          c.with ?? c.group?.name,
          c.last_message?.body ?? null,
          c.unread,
        ]),
        [
          ['g', 'again', 2],
          ['empty', null, 0],
          [b.username, 'pair', 1],
        ],
      );
      assert.deepEqual(list[1].group, empty);
      assert.deepEqual(Object.keys(list[0]).sort(), ['group', 'last_message', 'unread']);
    });

    it('POST /read with group moves the marker for every device of the caller, with a read event', async () => {
      const a = await newUser(t);
      const a2 = await logIn(t, a.username, 'correct horse', 'phone');
      const b = await newUser(t);
      const g = await makeGroup(t, a, 'g', [b]);
      const ids = [(await sentToGroup(t, b, g.id, 'one')).id, (await sentToGroup(t, b, g.id, 'two')).id];
      const other = await makeGroup(t, b, 'other', [a]);
      const elsewhere = (await sentToGroup(t, b, other.id, 'elsewhere')).id;
      const unread = async () =>
        (await t.http().get('/conversations').set(a2.auth).expect(200)).body.conversations.find(
          (c: { group?: GroupBody }) => c.group?.id === g.id,
        ).unread;
      assert.equal(await unread(), 2);
      const before = (await drain(t, a2, a2.cursor)).cursor;
      await t.http().post('/read').set(a.auth).send({ group: g.id, up_to: ids[0] }).expect(204);
      assert.equal(await unread(), 1);
      const events = (await drain(t, a2, before)).events;
      assert.deepEqual(events, [{ type: 'read', group: g.id, up_to: ids[0] }]);
      await t.http().post('/read').set(a.auth).send({ group: g.id, up_to: ids[0] }).expect(204); // no change, no event
      assert.deepEqual((await drain(t, a2, before)).events.length, 1);
      expectError(await t.http().post('/read').set(a.auth).send({ group: g.id, up_to: elsewhere }), 404, 'not_found');
      expectError(await t.http().post('/read').set(a.auth).send({ group: g.id, with: b.username, up_to: ids[1] }), 400, 'invalid_request');
      expectError(await t.http().post('/read').set(a.auth).send({ group: g.id }), 400, 'invalid_request');
      const outsider = await newUser(t);
      expectError(await t.http().post('/read').set(outsider.auth).send({ group: g.id, up_to: ids[1] }), 404, 'not_found');
    });
  });
});

describe('groups a user may be in (HTTP, #15)', () => {
  let t: TestApp;
  beforeEach(async () => {
    t = await startApp({ RATE_MESSAGES_USER: 'off', GROUPS_PER_USER_MAX: '2' });
  });
  afterEach(() => t.close());

  it('a user in GROUPS_PER_USER_MAX groups is refused 409 group_full naming them and the limit; nothing is made', async () => {
    const a = await newUser(t);
    const b = await newUser(t);
    const c = await newUser(t);
    await makeGroup(t, a, 'one', [b]);
    await makeGroup(t, c, 'two', [b]);
    const limit = new RegExp(`^${b.username} is already in 2 groups, the most a user may be in \\(GROUPS_PER_USER_MAX\\)$`);
    const made = await t
      .http()
      .post('/groups')
      .set(c.auth)
      .send({ name: 'three', members: [b.username] });
    expectError(made, 409, 'group_full');
    assert.match(made.body.error.message, limit);
    assert.deepEqual(
      (await t.http().get('/groups').set(c.auth).expect(200)).body.groups.map((g: GroupBody) => g.name),
      ['two'],
      'no group created',
    );
    const own = await makeGroup(t, c, 'three', []);
    const added = await t.http().post(`/groups/${own.id}/members`).set(c.auth).send({ username: b.username });
    expectError(added, 409, 'group_full');
    assert.match(added.body.error.message, limit);
    assert.deepEqual((await t.http().get(`/groups/${own.id}`).set(c.auth).expect(200)).body.group.members, [c.username]);
    assert.equal((await t.http().get('/groups').set(b.auth).expect(200)).body.groups.length, 2);
  });
});

/*
 * The chat page, file 5 of 19: groups (#15), the pure part. Pure like model.js: each function
 * takes the state (st) and changes it, with no network and no document
 * (test/unit/page-groups.test.ts runs it under Node).
 *
 * Every conversation is kept under a key in st.convs, st.current, the drafts and the outbox:
 * a 1:1 conversation under the other person's username (as before groups, so what older
 * pages stored still reads), a group under "#" and its id. Usernames are made of a-z 0-9 _ .
 * and -, so no key of one kind can be a key of the other: a group named "bob", or "#7", and
 * the user bob never share a conversation, a draft or an outbox. Group names are shown,
 * never used as keys.
 *
 * What a group looks like is only ever learnt from the server, in order: the snapshot
 * (GET /conversations) and then the {"type": "group"} events of the stream, each carrying the
 * group's whole new state. The answers to this page's own changes (rename, add, leave) are
 * not applied: an answer can overtake events that happened before it, and applying the older
 * state after it would undo it. Each event is compared with the state before it, and what
 * changed is written into the conversation as a quiet line ("bob added carol"), naming who
 * did it only when the event says so (its `change.by`), or when it was this page that asked
 * for it.
 */
(function (window) {
  'use strict';

  var C = window.Chat;
  var U = C.util;

  var KEY_RE = /^#[1-9][0-9]{0,14}$/;

  function keyOf(id) {
    return '#' + id;
  }
  function isKey(key) {
    return typeof key === 'string' && KEY_RE.test(key);
  }
  function idOf(key) {
    return isKey(key) ? parseInt(key.slice(1), 10) : null;
  }

  function validId(id) {
    return typeof id === 'number' && id > 0 && id % 1 === 0 && id < 1e15;
  }

  // A GROUP from the server, checked and copied (members as strings, sorted as sent), or null.
  function cleanGroup(g) {
    if (!g || !validId(g.id) || typeof g.name !== 'string' || !U.isArray(g.members)) return null;
    var members = [];
    for (var i = 0; i < g.members.length; i++) if (typeof g.members[i] === 'string') members.push(g.members[i]);
    return {
      id: g.id,
      name: g.name,
      owner: typeof g.owner === 'string' ? g.owner : null,
      members: members,
      created_at: typeof g.created_at === 'string' ? g.created_at : ''
    };
  }

  // The key of the conversation a (valid) message belongs to.
  function messageKey(me, m) {
    if (validId(m.group)) return keyOf(m.group);
    return m.from === me ? m.to : m.from;
  }

  function isMember(g, name) {
    if (!g) return false;
    for (var i = 0; i < g.members.length; i++) if (g.members[i] === name) return true;
    return false;
  }

  // Names in `a` and not in `b` (both small lists), in a's order.
  function missingFrom(a, b) {
    var inB = new U.Dict();
    for (var i = 0; i < b.length; i++) inB.set(b[i], true);
    var out = [];
    for (var j = 0; j < a.length; j++) if (!inB.has(a[j])) out.push(a[j]);
    return out;
  }

  // ---------------------------------------------------------------------------------------
  // The quiet lines. A name is the user's own name, or "you" for the reader.

  function who(name, me, capital) {
    if (name !== me) return name;
    return capital ? 'You' : 'you';
  }

  function quote(name) {
    return '\u201c' + name + '\u201d';
  }

  // What changed from `before` (null: the group is new to this page) to `after`, as lines of
  // text. by: who made the change, when known (the event's change.by, or this page's own request).
  function describe(before, after, me, by) {
    var lines = [];
    if (!before) {
      if (!isMember(after, me)) return lines;
      // A group this page has not seen: just created (its owner is its creator) or we were
      // added to it.
      if (after.owner === me && (!by || by === me)) lines.push('You created the group ' + quote(after.name) + '.');
      else if (by && by !== me) lines.push(by + ' added you to the group ' + quote(after.name) + '.');
      else lines.push('You were added to the group ' + quote(after.name) + '.');
      return lines;
    }
    var added = missingFrom(after.members, before.members);
    var removed = missingFrom(before.members, after.members);
    for (var i = 0; i < added.length; i++) {
      var a = added[i];
      if (by && by !== a) lines.push(who(by, me, true) + ' added ' + who(a, me, false) + '.');
      else lines.push(who(a, me, true) + (a === me ? ' were' : ' was') + ' added to the group.');
    }
    for (var j = 0; j < removed.length; j++) {
      var r = removed[j];
      if (by === r) lines.push(who(r, me, true) + ' left the group.');
      else if (by) lines.push(who(by, me, true) + ' removed ' + who(r, me, false) + ' from the group.');
      else lines.push(r === me ? 'You are no longer in this group.' : r + ' is no longer in the group.');
    }
    if (after.name !== before.name) {
      lines.push((by ? who(by, me, true) + ' renamed the group to ' : 'The group was renamed to ') + quote(after.name) + '.');
    }
    if (after.owner && after.owner !== before.owner) {
      lines.push(after.owner === me ? 'You are now the owner of the group.' : after.owner + ' is now the owner of the group.');
    }
    return lines;
  }

  // ---------------------------------------------------------------------------------------
  // This page's own requests, remembered until their event arrives, so that "You" can be
  // named as the one who made the change even when the event does not say who did.

  // kind: 'create' (value: the name), 'rename' (the new name), 'add' or 'remove' (a username).
  function expect(st, groupId, kind, value) {
    st.groupAsks.push({ group: groupId, kind: kind, value: value });
    if (st.groupAsks.length > 20) st.groupAsks.shift();
  }

  // The request of ours that explains this change, taken off the list, or null.
  function takeAsk(st, groupId, kind, value) {
    for (var i = 0; i < st.groupAsks.length; i++) {
      var a = st.groupAsks[i];
      if ((a.group === groupId || a.group === null) && a.kind === kind && a.value === value) {
        st.groupAsks.splice(i, 1);
        return true;
      }
    }
    return false;
  }

  // Who made the one change this event holds, when the event does not say: us, when we asked
  // for exactly that. An event with several changes at once is described without a name.
  function askedBy(st, before, after, me) {
    if (!before) return takeAsk(st, null, 'create', after.name) ? me : null;
    var added = missingFrom(after.members, before.members);
    var removed = missingFrom(before.members, after.members);
    var renamed = after.name !== before.name;
    if (added.length + removed.length + (renamed ? 1 : 0) !== 1) return null;
    if (renamed) return takeAsk(st, after.id, 'rename', after.name) ? me : null;
    if (added.length) return takeAsk(st, after.id, 'add', added[0]) ? me : null;
    // Leaving is removing oneself: it was us who did it.
    return takeAsk(st, after.id, 'remove', removed[0]) ? me : null;
  }

  // ---------------------------------------------------------------------------------------
  // Applying what the server says

  // A {"type": "group"} event. Returns {reload: the conversation whose history must be
  // loaded again (we were added back: what was said meanwhile never reached us), or null}.
  function applyEvent(st, ev) {
    var out = { reload: null };
    var g = cleanGroup(ev && ev.group);
    if (!g || !st.session) return out;
    var me = st.session.username;
    // A group we are not in and have never seen here (an event replayed after a reload, say)
    // is nothing to show.
    if (!st.convs.has(keyOf(g.id)) && !isMember(g, me)) return out;
    var c = C.model.conversation(st, keyOf(g.id));
    var before = c.group;
    // The server says who made the change in `change.by` (null: an administrator); without
    // it, we know only what this page asked for.
    var said = ev.change && typeof ev.change.by === 'string' ? ev.change.by : null;
    var by = said || askedBy(st, before, g, me);
    if (said === me) askedBy(st, before, g, me); // that request is answered: forget it
    var lines = describe(before, g, me, by);
    var wasMember = c.member;
    c.group = g;
    c.member = isMember(g, me);
    if (!c.maxId && !c.touched) c.touched = U.now();
    for (var i = 0; i < lines.length; i++) addLine(st, c, lines[i]);
    if (!c.member) {
      // Nothing more reaches a member who left: nothing of it is unread, and no marker can be
      // posted any more.
      c.unread = 0;
    } else if (!wasMember && before && (c.loaded || c.loading)) {
      out.reload = c;
    }
    if (c.name === st.current) st.chatDirty = true;
    return out;
  }

  // The quiet lines are kept in storage with the view (nav.js), so a reload keeps them: the
  // server has no history of a group's changes, only the events as they happen.
  var KEEP_LINES = 30;

  // A quiet line, after the newest message known now (where it happened in the stream).
  function addLine(st, c, text) {
    st.lineSeq += 1;
    c.lines.push({ seq: st.lineSeq, after: c.maxId, text: text });
    // A conversation keeps its latest changes only: a flood of renames holds little memory.
    if (c.lines.length > KEEP_LINES) c.lines.shift();
    st.linesDirty = true;
  }

  // What is stored: [key, after, text] for the groups' latest lines.
  function linesToSave(st) {
    var out = [];
    var keys = st.convs.keys();
    for (var i = 0; i < keys.length; i++) {
      if (!isKey(keys[i])) continue;
      var lines = st.convs.get(keys[i]).lines;
      for (var j = 0; j < lines.length; j++) out.push([keys[i], lines[j].after, lines[j].text]);
    }
    return out;
  }

  // The stored lines back, as a Dict of key -> lines (anything malformed is skipped).
  function linesFromSaved(st, saved) {
    var out = new U.Dict();
    if (!U.isArray(saved)) return out;
    for (var i = 0; i < saved.length; i++) {
      var l = saved[i];
      if (!U.isArray(l) || !isKey(l[0]) || typeof l[1] !== 'number' || typeof l[2] !== 'string') continue;
      var list = out.get(l[0]) || out.set(l[0], []);
      st.lineSeq += 1;
      list.push({ seq: st.lineSeq, after: l[1], text: l[2] });
      if (list.length > KEEP_LINES) list.shift();
    }
    return out;
  }

  // A row of GET /conversations for a group.
  function applySnapshotRow(c, g) {
    c.group = g;
    c.member = true;
    if (!c.touched) {
      var created = C.time.parseTime(g.created_at);
      c.touched = created ? created.getTime() : 1;
    }
  }

  // What the conversation list and the head call a conversation.
  function title(c, me) {
    if (isKey(c.name)) return c.group ? c.group.name : 'Group';
    return c.name === me ? 'Notes to self' : c.name;
  }

  // "You, amy and bob" (the reader first, then in the server's order); past five names,
  // "You, amy, bob, carol and 252 others": a class of 256 must fit in the head.
  function memberSummary(g, me) {
    if (!g) return '';
    var names = isMember(g, me) ? ['You'] : [];
    for (var i = 0; i < g.members.length; i++) if (g.members[i] !== me) names.push(g.members[i]);
    if (names.length <= 1) return names.length ? 'Only you' : 'No members';
    if (names.length > 5) return names.slice(0, 4).join(', ') + ' and ' + (names.length - 4) + ' others';
    return names.slice(0, -1).join(', ') + ' and ' + names[names.length - 1];
  }

  // What was typed in "New group": {name, members} to create, or {problem} to show. Members
  // are separated by commas or spaces; an @ before a name is dropped, as in "Start a chat".
  function checkNewGroup(rawName, rawMembers, me) {
    var name = U.trim(rawName);
    if (!name) return { problem: 'Give the group a name.' };
    if (U.charCount(name) > 64) return { problem: 'A group name can be at most 64 characters.' };
    var parts = String(rawMembers || '')
      .toLowerCase()
      .split(/[\s,;]+/);
    var members = [];
    var seen = new U.Dict();
    for (var i = 0; i < parts.length; i++) {
      var m = parts[i].charAt(0) === '@' ? parts[i].slice(1) : parts[i];
      if (!m || m === me || seen.has(m)) continue;
      if (!C.config.USERNAME_RE.test(m)) return { problem: quote(m) + ' is not a valid username.' };
      seen.set(m, true);
      members.push(m);
    }
    return { name: name, members: members };
  }

  // A new name typed for a group: the name, or {problem}.
  function checkGroupName(raw) {
    var name = U.trim(raw);
    if (!name) return { problem: 'Give the group a name.' };
    if (U.charCount(name) > 64) return { problem: 'A group name can be at most 64 characters.' };
    return { name: name };
  }

  C.groups = {
    keyOf: keyOf,
    isKey: isKey,
    idOf: idOf,
    cleanGroup: cleanGroup,
    messageKey: messageKey,
    isMember: isMember,
    describe: describe,
    expect: expect,
    applyEvent: applyEvent,
    applySnapshotRow: applySnapshotRow,
    linesToSave: linesToSave,
    linesFromSaved: linesFromSaved,
    title: title,
    memberSummary: memberSummary,
    checkNewGroup: checkNewGroup,
    checkGroupName: checkGroupName
  };
})(window);

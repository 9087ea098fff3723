/*
 * The chat page, file 13 of 19: which conversation is open. Opening and closing one, the draft
 * kept for each, and jumping to the newest message. Which one is open, what was being written
 * in each and the groups' quiet lines are kept in storage, so a reload (a kiosk's, say) brings
 * them back (#14, #15).
 */
(function (window) {
  'use strict';

  var C = window.Chat;
  var U = C.util;
  var D = C.dom;
  var M = C.model;
  var S = C.state;
  var V = C.views;
  var cfg = C.config;
  var $ = D.$,
    show = D.show;

  function saveView() {
    if (!S.session) return;
    var drafts = [];
    var names = S.drafts.keys();
    for (var i = 0; i < names.length; i++) {
      var text = S.drafts.get(names[i]);
      if (text) drafts.push([names[i], text]);
    }
    S.linesDirty = false;
    C.storage.save(
      C.storage.viewKey(S.session.username),
      JSON.stringify({ current: S.current, drafts: drafts, lines: C.groups.linesToSave(S) })
    );
  }

  // What saveView kept for this session's user: {current, drafts: Dict, lines: Dict}.
  function loadView() {
    var saved = S.session ? C.storage.loadJson(C.storage.viewKey(S.session.username)) : null;
    var drafts = new U.Dict();
    if (saved && U.isArray(saved.drafts)) {
      for (var i = 0; i < saved.drafts.length; i++) {
        var d = saved.drafts[i];
        if (U.isArray(d) && typeof d[0] === 'string' && typeof d[1] === 'string') drafts.set(d[0], d[1]);
      }
    }
    // A username, or a group's key ("#7", see groups.js): the two never collide.
    var current =
      saved && typeof saved.current === 'string' && (cfg.USERNAME_RE.test(saved.current) || C.groups.isKey(saved.current))
        ? saved.current
        : null;
    return { current: current, drafts: drafts, lines: C.groups.linesFromSaved(S, saved ? saved.lines : null) };
  }

  // The composer's text is the open conversation's draft.
  function keepDraft() {
    if (!S.current) return;
    S.drafts.set(S.current, $('composer-input').value);
    saveView();
  }

  // opts.restoring: the page is coming back to it after a reload; the snapshot loads its
  // history (sync.js), and the keyboard is left alone.
  function openConversation(name, opts) {
    opts = opts || {};
    var input = $('composer-input');
    // In the two-pane layout one conversation replaces another without closing it first:
    // keep what was being written there.
    if (S.current && S.current !== name) S.drafts.set(S.current, input.value);
    var c = M.conversation(S, name);
    if (!c.maxId && !c.touched) c.touched = U.now();
    S.current = name;
    S.chatDirty = true;
    S.incoming = false;
    S.newBelow = false;
    D.addClass($('app'), 'chat-open');
    C.chatView.renderChatHead();
    V.renderConversationList();
    input.value = S.drafts.get(name) || '';
    setComposerDirection();
    C.chatView.renderChat({ toBottom: true });
    V.fitComposer();
    saveView();
    if (opts.restoring) return;
    if (!c.loaded && !c.loading) C.history.loadHistory(c);
    else C.history.maybeMarkRead();
    D.focus(input);
  }

  function closeConversation() {
    var closed = S.current;
    if (closed) S.drafts.set(closed, $('composer-input').value);
    S.current = null;
    D.removeClass($('app'), 'chat-open');
    saveView();
    V.renderConversationList();
    C.chatView.renderChat();
    // The keyboard goes back to where the reader came from: that conversation in the list.
    var btn = closed === null ? null : V.listButton(closed);
    if (btn) D.focus(btn);
  }

  // The composer writes in the direction of what is typed in it (as dir="auto" would).
  function setComposerDirection() {
    var input = $('composer-input');
    var dir = U.textDirection(input.value);
    if (dir) input.setAttribute('dir', dir);
    else input.removeAttribute('dir');
  }

  // The reader asked to jump to the newest message.
  function scrollToNewest() {
    if (S.current && M.conversation(S, S.current).hasNewer) {
      C.search.toLatest(S.current);
      return;
    }
    V.setScrollTop(V.scrollState().height);
    S.newBelow = false;
    show($('new-below'), false);
    C.history.maybeMarkRead();
  }
  C.nav = {
    saveView: saveView,
    loadView: loadView,
    keepDraft: keepDraft,
    openConversation: openConversation,
    closeConversation: closeConversation,
    setComposerDirection: setComposerDirection,
    scrollToNewest: scrollToNewest
  };
})(window);

/*
 * The chat page, file 15 of 19: what the user writes. The "start a conversation" box and the
 * composer: Enter sends, the box grows with its text, and the draft is kept (#14). The checks
 * of what was typed are pure functions (tested under Node).
 */
(function (window) {
  'use strict';

  var C = window.Chat;
  var U = C.util;
  var D = C.dom;
  var S = C.state;
  var cfg = C.config;
  var $ = D.$;

  function checkNewConversation(raw) {
    var name = U.trim(raw).toLowerCase();
    if (name.charAt(0) === '@') name = name.slice(1);
    if (!name) return { problem: 'Type a username to start a conversation.' };
    if (!cfg.USERNAME_RE.test(name)) return { problem: '\u201c' + name + '\u201d is not a valid username.' };
    return { name: name };
  }

  function onNewConversation(e) {
    D.preventDefault(e);
    var input = $('new-username');
    var typed = checkNewConversation(input.value);
    if (typed.problem) {
      C.views.notify(typed.problem);
      return;
    }
    input.value = '';
    C.nav.openConversation(typed.name);
  }

  // The problem with a message about to be sent, or null ('' for one not worth sending).
  function checkMessage(body) {
    if (!U.trim(body)) return '';
    if (U.charCount(body) > cfg.MAX_BODY) return 'A message can be at most ' + cfg.MAX_BODY + ' characters.';
    return null;
  }

  function onComposerSubmit(e) {
    if (e) D.preventDefault(e);
    if (!S.current) return;
    var c = S.convs.get(S.current);
    if (c && !c.member) return; // a group we are no longer in (the composer is disabled)
    var input = $('composer-input');
    var body = input.value;
    var problem = checkMessage(body);
    if (problem !== null) {
      if (problem) C.views.notify(problem);
      return;
    }
    input.value = '';
    C.nav.keepDraft();
    C.nav.setComposerDirection();
    C.views.fitComposer();
    C.search.toLatest(S.current); // opened at a search result: the newest messages first
    C.send.queue(S.current, body);
  }

  // Typing: the box grows, follows the text's direction, and the draft is kept (#14). Kept
  // in storage at most every half second: a kiosk's storage is slow.
  var draftTimer = null;
  function onComposerInput() {
    C.views.fitComposer();
    C.nav.setComposerDirection();
    if (draftTimer) return;
    draftTimer = setTimeout(function () {
      draftTimer = null;
      C.nav.keepDraft();
    }, 500);
  }

  function onComposerKey(e) {
    var key = e.keyCode || e.which;
    // Enter sends; Shift+Enter (or Alt/Ctrl+Enter) adds a new line.
    if (key === 13 && !e.shiftKey && !e.altKey && !e.ctrlKey && !e.metaKey && !e.isComposing) {
      D.preventDefault(e);
      onComposerSubmit(null);
    }
  }

  C.composer = {
    checkNewConversation: checkNewConversation,
    checkMessage: checkMessage,
    onNewConversation: onNewConversation,
    onSubmit: onComposerSubmit,
    onKey: onComposerKey,
    onInput: onComposerInput
  };
})(window);

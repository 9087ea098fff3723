/*
 * The chat page, file 19 of 19: wiring. The layout is picked (the page-scroll one for engines
 * that cannot scroll an inner pane with one finger), every event handler is attached here
 * (index.html has no handler attributes, so a Content-Security-Policy without
 * 'unsafe-inline' holds), then the page resumes the saved session or shows the log-in screen.
 * The only file that does anything while loading.
 */
(function (window) {
  'use strict';

  var C = window.Chat;
  var D = C.dom;
  var S = C.state;
  var F = C.forms;
  var V = C.views;
  var N = C.nav;
  var $ = D.$,
    on = D.on;

  function onMessagesClick(e) {
    var target = D.closestWithAttr(D.eventTarget(e), 'data-action', $('messages'));
    if (!target) return;
    var action = target.getAttribute('data-action');
    if (action === 'retry') C.send.retry(target.getAttribute('data-cid'));
    else if (action === 'discard') C.send.discard(target.getAttribute('data-cid'));
    else if (action === 'older' && S.current) C.history.loadOlder(C.model.conversation(S, S.current));
    else if (action === 'reload' && S.current) C.history.loadHistory(C.model.conversation(S, S.current));
    else if (action === 'newer' || action === 'latest') C.search.onAction(action);
  }

  var scrollTimer = null;
  function onMessagesScroll() {
    if (scrollTimer) return;
    // Throttled: old devices fire scroll events very often.
    scrollTimer = setTimeout(function () {
      scrollTimer = null;
      C.history.maybeLoadOlder();
      if (V.isNearBottom()) {
        S.newBelow = false;
        D.show($('new-below'), false);
        C.history.maybeMarkRead();
      }
    }, 100);
  }

  function onKeyDown(e) {
    var key = e.keyCode || e.which;
    if (key === 9 && V.isConfirmOpen()) {
      D.trapFocus($('confirm'), e);
      return;
    }
    if (key === 9 && C.devices.isOpen()) {
      C.devices.trapFocus(e);
      return;
    }
    if (key === 9 && C.groupDialog.isOpen()) {
      C.groupDialog.trapFocus(e);
      return;
    }
    if (key !== 27) return; // Escape
    if (V.isConfirmOpen()) V.answerConfirm(false);
    else if (C.devices.isOpen()) C.devices.close();
    else if (C.groupDialog.isOpen()) C.groupDialog.close();
    else if (
      S.current &&
      D.hasClass($('app'), 'chat-open') &&
      (V.pageScrolls() || (window.innerWidth || window.document.documentElement.clientWidth) <= 720)
    )
      N.closeConversation();
  }

  // The window changed size (a phone turned, a keyboard opened): the panes follow.
  var resizeTimer = null;
  function onResize() {
    if (resizeTimer) return;
    resizeTimer = setTimeout(function () {
      resizeTimer = null;
      if (S.current) V.fitComposer();
    }, 100);
  }

  function init() {
    var document = window.document;
    // Old engines that cannot scroll an inner pane with one finger get the layout where the
    // page itself scrolls (#14; style.css, "The page-scroll layout").
    if (C.util.needsPageScroll(window.navigator.userAgent, window.location.search)) D.addClass(document.documentElement, 'page-scroll');
    on($('tab-login'), 'click', function () {
      F.showAuth('login');
    });
    on($('tab-signup'), 'click', function () {
      F.showAuth('signup');
    });
    on($('login-form'), 'submit', F.onLoginSubmit);
    on($('signup-form'), 'submit', F.onSignupSubmit);
    on($('new-form'), 'submit', C.composer.onNewConversation);
    on($('search-form'), 'submit', C.search.onSubmit);
    on($('search-list'), 'click', C.search.onResultClick);
    on($('search-more'), 'click', C.search.more);
    on($('search-close'), 'click', C.search.close);
    on($('composer'), 'submit', C.composer.onSubmit);
    on($('composer-input'), 'keydown', C.composer.onKey);
    on($('composer-input'), 'input', C.composer.onInput);
    on($('composer-input'), 'keyup', C.composer.onInput); // engines without the input event
    on($('messages'), 'click', onMessagesClick);
    on($('messages'), 'scroll', onMessagesScroll);
    on(window, 'scroll', function () {
      if (V.pageScrolls()) onMessagesScroll();
    });
    on(window, 'resize', onResize);
    // What was typed in the last half second is kept too.
    on(window, 'pagehide', N.keepDraft);
    on(window, 'beforeunload', N.keepDraft);
    on($('conv-list'), 'click', function (e) {
      var btn = D.closestWithAttr(D.eventTarget(e), 'data-name', $('conv-list'));
      if (btn) N.openConversation(btn.getAttribute('data-name'));
    });
    on($('back-btn'), 'click', N.closeConversation);
    on($('new-below'), 'click', N.scrollToNewest);
    on($('logout-btn'), 'click', F.logOut);
    on($('devices-btn'), 'click', C.devices.open);
    on($('devices-close'), 'click', C.devices.close);
    on($('devices'), 'click', function (e) {
      if (D.eventTarget(e) === $('devices')) C.devices.close();
    });
    on($('device-list'), 'click', C.devices.onClick);
    var GD = C.groupDialog;
    on($('new-group-btn'), 'click', GD.openNew);
    on($('group-btn'), 'click', GD.openCurrent);
    on($('group-close'), 'click', GD.close);
    on($('group-dialog'), 'click', function (e) {
      if (D.eventTarget(e) === $('group-dialog')) GD.close();
    });
    on($('group-create'), 'submit', GD.onCreate);
    on($('group-rename'), 'submit', GD.onRename);
    on($('group-add'), 'submit', GD.onAdd);
    on($('group-members'), 'click', GD.onMembersClick);
    on($('group-leave'), 'click', GD.onLeave);
    on($('devices-others'), 'click', C.devices.logOutOthers);
    on($('confirm-yes'), 'click', function () {
      V.answerConfirm(true);
    });
    on($('confirm-cancel'), 'click', function () {
      V.answerConfirm(false);
    });
    on($('notice-close'), 'click', function () {
      D.show($('notice'), false);
    });
    on($('conn-retry'), 'click', C.sync.retryNow);
    on($('banner-retry'), 'click', C.sync.retryNow);
    on(document, 'keydown', onKeyDown);
    on(document, 'visibilitychange', C.presence.pageShown);
    on(document, 'webkitvisibilitychange', C.presence.pageShown);
    on(window, 'focus', C.presence.pageShown);
    on(window, 'online', function () {
      if (S.session) C.sync.retryNow();
    });
    on(window, 'offline', function () {
      C.sync.connectionLost(C.http.failedResult('network', 'The browser is offline.'), true);
    });

    var saved = C.storage.loadJson(C.storage.SESSION_KEY);
    if (saved && typeof saved.token === 'string' && typeof saved.username === 'string') {
      // No cursor: the server resumes from this device's stored one (see sync.js).
      F.startSession(saved, null);
    } else {
      F.showAuth('login');
      if (!C.storage.persistent)
        F.showAuthInfo('This browser does not keep data for this page, so you will need to log in again after reloading.');
    }
  }

  C.boot = { init: init };
  init();
})(window);

/*
 * The chat page, file 14 of 19: sessions. Starting and ending a session, the log-in and sign-up
 * forms, logging out. The checks of what was typed are pure functions (tested under Node).
 */
(function (window) {
  'use strict';

  var C = window.Chat;
  var U = C.util;
  var D = C.dom;
  var M = C.model;
  var S = C.state;
  var cfg = C.config;
  var $ = D.$,
    show = D.show,
    setText = D.setText;

  // A name for this device, from the user agent ("Firefox on Android").
  function guessDeviceName(userAgent) {
    var ua = userAgent !== undefined ? userAgent : window.navigator.userAgent || '';
    var browser = /Edg(e|A|iOS)?\//.test(ua)
      ? 'Edge'
      : /OPR\/|Opera/.test(ua)
        ? 'Opera'
        : /Firefox\//.test(ua)
          ? 'Firefox'
          : /Chrom(e|ium)\//.test(ua)
            ? 'Chrome'
            : /Safari\//.test(ua)
              ? 'Safari'
              : /MSIE |Trident\//.test(ua)
                ? 'Internet Explorer'
                : 'Browser';
    var os = /Android/.test(ua)
      ? 'Android'
      : /iPhone|iPad|iPod/.test(ua)
        ? 'iOS'
        : /Windows/.test(ua)
          ? 'Windows'
          : /CrOS/.test(ua)
            ? 'ChromeOS'
            : /Mac OS X/.test(ua)
              ? 'macOS'
              : /Linux/.test(ua)
                ? 'Linux'
                : '';
    return browser + (os ? ' on ' + os : '');
  }

  // ---------------------------------------------------------------------------------------
  // Sessions

  // s: {token, username, deviceId, deviceName}; cursor: where to poll from (null: this
  // device's stored cursor, see sync.js).
  function startSession(s, cursor) {
    M.beginSession(S, s);
    C.send.reset();
    C.storage.save(C.storage.SESSION_KEY, JSON.stringify(s));
    C.send.restore();
    setText($('me-name'), s.username);
    $('me-name').setAttribute('title', s.username);
    setText($('me-avatar'), C.views.initial(s.username));
    D.removeClass($('app'), 'chat-open');
    show($('auth'), false);
    show($('app'), true);
    M.conversation(S, s.username);
    // After a reload: the conversation that was open, what was being written (#14), and the
    // groups' quiet lines (#15).
    var view = C.nav.loadView();
    S.drafts = view.drafts;
    S.savedLines = view.lines;
    C.views.renderAll();
    if (view.current) C.nav.openConversation(view.current, { restoring: true });
    C.sync.start(cursor);
    C.send.pump();
  }

  function authMessage(reason) {
    if (reason === 'signedOut') return 'This device was logged out, or revoked from another device. Please log in again.';
    if (reason === 'loggedOut') return 'You have logged out.';
    return '';
  }

  function discardedText(unsent) {
    return unsent === 1
      ? 'One message that had not been sent yet was discarded.'
      : unsent + ' messages that had not been sent yet were discarded.';
  }

  // Ends the session here: forgets the token, stops all traffic, shows the log-in screen.
  // reason: 'signedOut' (the server refused the token) or 'loggedOut' (the user asked).
  function endSession(reason, extraInfo) {
    var username = S.session ? S.session.username : '';
    var deviceName = S.session ? S.session.deviceName : '';
    var unsent = C.send.unsentCount();
    // The page keeps no messages of a session that has ended (a revoked kiosk may be in the
    // wrong hands): the ones not yet sent are dropped, and the user is told.
    if (unsent && reason === 'signedOut') extraInfo = (extraInfo ? extraInfo + ' ' : '') + discardedText(unsent);
    if (S.session) {
      C.storage.drop(C.storage.outboxKey(S.session.username));
      C.storage.drop(C.storage.viewKey(S.session.username)); // drafts go with the session
    }
    M.endSession(S);
    C.send.reset();
    C.sync.stop();
    C.http.dropQueued();
    C.storage.drop(C.storage.SESSION_KEY);
    $('composer-input').value = '';
    D.clear($('conv-list'));
    D.clear($('messages'));
    C.search.close();
    if (C.views.isConfirmOpen()) C.views.answerConfirm(false);
    show($('devices'), false);
    show($('group-dialog'), false);
    show($('notice'), false);
    show($('app'), false);
    showAuth('login');
    if (username) $('login-username').value = username;
    if (deviceName) $('login-device').value = deviceName;
    $('login-password').value = '';
    var message = authMessage(reason);
    if (extraInfo) message += ' ' + extraInfo;
    if (reason === 'signedOut') showAuthError(message);
    else if (message) showAuthInfo(message);
    window.document.title = 'Chat';
  }

  // Logs this device out; with messages not sent yet, after asking in the page (kiosks often
  // block window.confirm(), and then nothing would happen and nothing be said, #14).
  function logOut() {
    var unsent = C.send.unsentCount();
    if (!unsent) {
      logOutNow();
      return;
    }
    C.views.confirmInPage(
      (unsent === 1 ? 'One message has' : unsent + ' messages have') + ' not been sent yet and will be lost if you log out now.',
      'Log out anyway',
      logOutNow
    );
  }

  function logOutNow() {
    if (!S.session) return;
    var token = S.session.token;
    endSession('loggedOut');
    if (!token) return;
    C.http.api(
      'DELETE',
      '/sessions/current',
      null,
      function (res) {
        if (!res.ok && res.status !== 401) {
          showAuthInfo(
            'You are logged out on this page, but the server could not be told (' +
              res.error.message +
              '). To be safe, revoke this device from another one.'
          );
        }
      },
      { always: true, token: token }
    );
  }

  // ---------------------------------------------------------------------------------------
  // The log-in and sign-up screen

  function showAuth(which) {
    show($('auth'), true);
    var login = which === 'login';
    show($('login-form'), login);
    show($('signup-form'), !login);
    D.toggleClass($('tab-login'), 'active', login);
    D.toggleClass($('tab-signup'), 'active', !login);
    $('tab-login').setAttribute('aria-selected', login ? 'true' : 'false');
    $('tab-signup').setAttribute('aria-selected', login ? 'false' : 'true');
    show($('auth-error'), false);
    show($('auth-info'), false);
    var device = $(login ? 'login-device' : 'signup-device');
    if (!device.value) device.value = guessDeviceName();
    var first = $(login ? 'login-username' : 'signup-username');
    D.focus(first.value ? $(login ? 'login-password' : 'signup-password') : first);
  }

  function visibleAuthForm() {
    return D.hasClass($('login-form'), 'hidden') ? $('signup-form') : $('login-form');
  }

  // An error is shown just above the form's button, so the two are seen together: on a short
  // kiosk screen (800x480) an error at the top pushed the button below the fold (#14).
  function showAuthError(text) {
    var box = $('auth-error');
    var form = visibleAuthForm();
    var button = form.getElementsByTagName('button')[0];
    if (box.parentNode !== form) form.insertBefore(box, button);
    setText(box, text);
    show(box, true);
    show($('auth-info'), false);
    keepInView(button, box);
  }

  // Scrolls the page (only as much as needed) so that `bottom` is on screen, then `top` if
  // that still leaves it above the screen.
  function keepInView(bottom, top) {
    try {
      var doc = window.document.documentElement;
      var height = window.innerHeight || doc.clientHeight;
      var b = bottom.getBoundingClientRect();
      if (b.bottom > height) window.scrollBy(0, Math.ceil(b.bottom - height) + 8);
      var t = top.getBoundingClientRect();
      if (t.top < 0) window.scrollBy(0, Math.floor(t.top) - 8);
    } catch (e) {
      /* an engine without getBoundingClientRect: nothing to adjust */
    }
  }

  function showAuthInfo(text) {
    setText($('auth-info'), text);
    show($('auth-info'), true);
  }

  // After a refused log-in or sign-up, the field to correct gets the keyboard (the button
  // that had it was disabled while the request ran).
  function focusAuthField(res, signingUp) {
    var code = res && res.error ? res.error.code : '';
    var field = code === 'invalid_credentials' ? 'password' : 'username';
    D.focus($((signingUp ? 'signup-' : 'login-') + field));
    // Focusing may have scrolled the field into view: the error and the button come first.
    var form = visibleAuthForm();
    keepInView(form.getElementsByTagName('button')[0], $('auth-error'));
  }

  function authBusy(busy) {
    $('login-submit').disabled = busy;
    $('signup-submit').disabled = busy;
    setText($('login-submit'), busy ? 'Logging in\u2026' : 'Log in');
    setText($('signup-submit'), busy ? 'Creating account\u2026' : 'Create account');
  }

  // What to tell the user when a log-in or sign-up was refused.
  function explainAuthError(res) {
    var code = res.error ? res.error.code : '';
    if (code === 'invalid_credentials') return 'Wrong username or password.';
    if (code === 'username_taken') return 'That username is taken. Please choose another.';
    if (code === 'forbidden') return 'Sign-up is closed on this server. Ask an administrator for an account.';
    if (code === 'rate_limited') return 'Too many attempts. Please wait a moment and try again.';
    if (code === 'network' || code === 'timeout') return 'Could not reach the server. Check the connection and try again.';
    return res.error ? res.error.message : 'Something went wrong. Please try again.';
  }

  // The problem with what was typed in the log-in or sign-up form, or null.
  function checkCredentials(username, password, signingUp) {
    if (!username) return 'Please enter a username.';
    if (signingUp && !cfg.USERNAME_RE.test(username)) return 'Usernames are 1\u201332 characters: letters, digits, _ . and -';
    if (!password) return 'Please enter a password.';
    if (signingUp && password.length < 8) return 'The password needs at least 8 characters.';
    return null;
  }

  function logIn(username, password, deviceName) {
    authBusy(true);
    C.http.api(
      'POST',
      '/sessions',
      { username: username, password: password, device_name: deviceName },
      function (res) {
        authBusy(false);
        if (!res.ok || !res.data || typeof res.data.token !== 'string') {
          showAuthError(explainAuthError(res));
          focusAuthField(res, false);
          return;
        }
        var device = res.data.device || {};
        $('login-password').value = '';
        $('signup-password').value = '';
        startSession(
          { token: res.data.token, username: username, deviceId: device.id, deviceName: device.name },
          typeof res.data.cursor === 'string' ? res.data.cursor : null
        );
        // The keyboard starts where a new conversation begins (Tab goes on to the list).
        D.focus($('new-username'));
      },
      { token: null, always: true }
    );
  }

  // The fields of the log-in or sign-up form, checked; null (with the problem shown) if not.
  function authFields(prefix, signingUp) {
    var f = {
      username: U.trim($(prefix + 'username').value).toLowerCase(),
      password: $(prefix + 'password').value,
      device: U.trim($(prefix + 'device').value) || guessDeviceName()
    };
    var problem = checkCredentials(f.username, f.password, signingUp);
    if (problem) {
      showAuthError(problem);
      return null;
    }
    show($('auth-error'), false);
    show($('auth-info'), false);
    return f;
  }

  function onLoginSubmit(e) {
    D.preventDefault(e);
    var f = authFields('login-', false);
    if (f) logIn(f.username, f.password, f.device);
  }

  function onSignupSubmit(e) {
    D.preventDefault(e);
    var f = authFields('signup-', true);
    if (!f) return;
    authBusy(true);
    C.http.api(
      'POST',
      '/users',
      { username: f.username, password: f.password },
      function (res) {
        if (!res.ok) {
          authBusy(false);
          showAuthError(explainAuthError(res));
          focusAuthField(res, true);
          return;
        }
        logIn(f.username, f.password, f.device);
      },
      { token: null, always: true }
    );
  }

  C.forms = {
    guessDeviceName: guessDeviceName,
    startSession: startSession,
    endSession: endSession,
    logOut: logOut,
    showAuth: showAuth,
    showAuthInfo: showAuthInfo,
    explainAuthError: explainAuthError,
    checkCredentials: checkCredentials,
    onLoginSubmit: onLoginSubmit,
    onSignupSubmit: onSignupSubmit
  };
})(window);

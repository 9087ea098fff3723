/*
 * The chat page, file 3 of 19: storage, and HTTP.
 *
 * Connections: at most two to the server at a time. One is the long poll (GET /poll, in
 * sync.js); every other request (sends, history, read markers, presence, devices) goes
 * through api() below, one queue with at most one request in flight. Browsers allow only a
 * few connections per host, and some proxies fewer, so a page that opened more could starve
 * its own poll.
 */
(function (window) {
  'use strict';

  var C = window.Chat;
  var U = C.util;

  // ---------------------------------------------------------------------------------------
  // Storage: localStorage where it exists and works (it throws in some privacy modes and
  // with cookies blocked), else memory only, which still works until the page is reloaded.

  var storage = null;
  try {
    storage = window.localStorage;
    storage.setItem('chat.probe', '1');
    storage.removeItem('chat.probe');
  } catch (e) {
    storage = null;
  }
  var memoryStore = new U.Dict();

  function loadItem(key) {
    if (storage) {
      try {
        return storage.getItem(key);
      } catch (e) {
        /* fall through to memory */
      }
    }
    return memoryStore.has(key) ? memoryStore.get(key) : null;
  }
  function saveItem(key, value) {
    memoryStore.set(key, value);
    if (storage) {
      try {
        storage.setItem(key, value);
      } catch (e) {
        /* full or blocked: memory still has it */
      }
    }
  }
  function dropItem(key) {
    memoryStore.remove(key);
    if (storage) {
      try {
        storage.removeItem(key);
      } catch (e) {
        /* nothing to do */
      }
    }
  }
  function loadJson(key) {
    var raw = loadItem(key);
    if (!raw) return null;
    try {
      return JSON.parse(raw);
    } catch (e) {
      return null;
    }
  }

  C.storage = {
    persistent: !!storage, // false: memory only, gone on reload
    load: loadItem,
    save: saveItem,
    drop: dropItem,
    loadJson: loadJson,
    SESSION_KEY: 'chat.session',
    outboxKey: function (username) {
      return 'chat.outbox.' + username;
    },
    // The open conversation and the unsent drafts, so a reload keeps them (#14).
    viewKey: function (username) {
      return 'chat.view.' + username;
    }
  };

  // ---------------------------------------------------------------------------------------
  // HTTP

  var requestSeq = 0;

  // What the page makes of a finished XMLHttpRequest (or anything with its fields).
  function resultOf(xhr) {
    var status = xhr.status;
    if (status === 1223) status = 204; // old IE reports 204 as 1223
    var data = null;
    var text;
    try {
      text = xhr.responseText;
    } catch (e) {
      text = '';
    }
    if (text) {
      try {
        data = JSON.parse(text);
      } catch (e2) {
        data = null;
      }
    }
    var ok = status >= 200 && status < 300;
    var error = null;
    if (!ok) {
      if (data && data.error && typeof data.error.code === 'string') {
        error = { code: data.error.code, message: String(data.error.message || data.error.code) };
      } else if (status) {
        error = { code: 'http_' + status, message: 'The server answered with status ' + status + '.' };
      } else {
        error = { code: 'network', message: 'Could not reach the server.' };
      }
    }
    var retryAfter;
    try {
      retryAfter = xhr.getResponseHeader('Retry-After');
    } catch (e3) {
      retryAfter = null;
    }
    return { status: status, ok: ok, data: data, error: error, retryAfterMs: U.parseRetryAfter(retryAfter) };
  }

  function failedResult(code, message) {
    return { status: 0, ok: false, data: null, error: { code: code, message: message }, retryAfterMs: 0 };
  }

  // One XMLHttpRequest with a hard time-out. Calls done(result) exactly once, unless aborted
  // through the returned handle, in which case it never calls it.
  function request(method, path, body, token, timeoutMs, done) {
    if (method === 'DELETE') {
      // Some proxies in front of our users pass only GET and POST: the contract lets a POST
      // carry "_method": "DELETE" instead.
      method = 'POST';
      body = { _method: 'DELETE' };
    }
    var xhr = new window.XMLHttpRequest();
    var finished = false;
    var timer = null;
    var url = path;
    if (method === 'GET') {
      // Old browsers and some proxies cache XHR GETs whatever the headers say.
      requestSeq += 1;
      url += (url.indexOf('?') < 0 ? '?' : '&') + '_=' + U.now().toString(36) + requestSeq.toString(36);
    }
    function finish(result) {
      if (finished) return;
      finished = true;
      if (timer !== null) clearTimeout(timer);
      xhr.onreadystatechange = U.noop;
      done(result);
    }
    xhr.onreadystatechange = function () {
      if (xhr.readyState === 4) finish(resultOf(xhr));
    };
    try {
      xhr.open(method, url, true);
      if (token) xhr.setRequestHeader('Authorization', 'Bearer ' + token);
      if (body !== null && body !== undefined) xhr.setRequestHeader('Content-Type', 'application/json');
      xhr.send(body !== null && body !== undefined ? JSON.stringify(body) : null);
    } catch (e) {
      setTimeout(function () {
        finish(failedResult('network', 'Could not reach the server.'));
      }, 0);
    }
    timer = setTimeout(function () {
      if (finished) return;
      finished = true;
      xhr.onreadystatechange = U.noop;
      try {
        xhr.abort();
      } catch (e) {
        /* already closed */
      }
      done(failedResult('timeout', 'The server took too long to answer.'));
    }, timeoutMs);
    return {
      abort: function () {
        if (finished) return;
        finished = true;
        clearTimeout(timer);
        xhr.onreadystatechange = U.noop;
        try {
          xhr.abort();
        } catch (e) {
          /* already closed */
        }
      }
    };
  }

  // The second connection: one request in flight at a time, in the order asked for.
  var channel = { queue: [], busy: false };

  // Queues a request on the second connection; done(result) is called with the answer.
  // opts.token: the token to send (default: the session's; null for none); opts.always:
  // deliver the answer even if the session has ended meanwhile (used by log in and log out);
  // opts.timeoutMs. Without always, an answer for a session that has ended is dropped, and a
  // 401 to a request made with a token ends the session.
  function api(method, path, body, done, opts) {
    var S = C.state;
    opts = opts || {};
    channel.queue.push({
      method: method,
      path: path,
      body: body,
      done: done || U.noop,
      token: opts.token !== undefined ? opts.token : S.session ? S.session.token : null,
      gen: S.sessionGen,
      always: !!opts.always,
      timeoutMs: opts.timeoutMs || C.config.REQUEST_TIMEOUT_MS
    });
    pumpChannel();
  }

  function pumpChannel() {
    var S = C.state;
    if (channel.busy) return;
    var job = null;
    while (channel.queue.length) {
      job = channel.queue.shift();
      if (job.always || job.gen === S.sessionGen) break;
      job = null; // belongs to a session that has ended
    }
    if (!job) return;
    channel.busy = true;
    request(job.method, job.path, job.body, job.token, job.timeoutMs, function (res) {
      channel.busy = false;
      if (job.always) {
        job.done(res);
      } else if (job.gen === S.sessionGen) {
        if (res.status === 401 && job.token) C.forms.endSession('signedOut');
        else job.done(res);
      }
      pumpChannel();
    });
  }

  // Forgets every request not yet sent (the session has ended; the one in flight, if any,
  // finishes and is dropped by its generation).
  function dropQueued() {
    channel.queue = [];
  }

  C.http = {
    request: request,
    api: api,
    dropQueued: dropQueued,
    resultOf: resultOf,
    failedResult: failedResult
  };
})(window);

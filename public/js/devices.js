/*
 * The chat page, file 9 of 10: the Devices dialog. Every device the user logged in from, with
 * log out (this one) and revoke (another one, in two clicks).
 */
(function (window) {
  'use strict';

  var C = window.Chat;
  var U = C.util;
  var T = C.time;
  var D = C.dom;
  var S = C.state;
  var $ = D.$,
    el = D.el,
    show = D.show,
    setText = D.setText;

  function isOpen() {
    return !D.hasClass($('devices'), 'hidden');
  }

  function open() {
    show($('devices'), true);
    show($('devices-error'), false);
    var list = $('device-list');
    D.clear(list);
    list.appendChild(el('li', 'device-note', 'Loading\u2026'));
    load();
    D.focus($('devices-close'));
  }

  function close() {
    show($('devices'), false);
    D.focus($('devices-btn'));
  }

  function showError(text) {
    setText($('devices-error'), text);
    show($('devices-error'), true);
  }

  function load() {
    var gen = S.sessionGen;
    C.http.api('GET', '/devices', null, function (res) {
      if (gen !== S.sessionGen) return;
      var list = $('device-list');
      D.clear(list);
      if (!res.ok || !res.data || !U.isArray(res.data.devices)) {
        showError('Could not load your devices: ' + (res.error ? res.error.message : 'unexpected answer'));
        return;
      }
      var devices = res.data.devices.slice(0);
      devices.sort(function (a, b) {
        return (b.current ? 1 : 0) - (a.current ? 1 : 0);
      });
      for (var i = 0; i < devices.length; i++) list.appendChild(deviceItem(devices[i]));
      if (!devices.length) list.appendChild(el('li', 'device-note', 'No devices.'));
    });
  }

  // "Online now · logged in today at 09:12", "Last seen yesterday at 18:40 · logged in ..."
  function deviceDetails(d, today) {
    var created = T.parseTime(d.created_at);
    var seen = T.parseTime(d.last_seen_at);
    var details = [];
    if (d.online) details.push('Online now');
    else if (seen) details.push('Last seen ' + T.whenPhrase(seen, today));
    if (created) details.push('logged in ' + T.whenPhrase(created, today));
    return details.join(' \u00b7 ');
  }

  function deviceItem(d) {
    var li = el('li', 'device' + (d.current ? ' current' : ''));
    var info = el('div', 'device-info');
    var name = el('div', 'device-name');
    name.appendChild(el('span', 'dot ' + (d.online ? 'dot-on' : 'dot-off')));
    name.appendChild(el('span', null, d.name || 'Unnamed device'));
    if (d.current) name.appendChild(el('span', 'tag', 'This device'));
    info.appendChild(name);
    info.appendChild(el('div', 'device-details', deviceDetails(d)));
    li.appendChild(info);
    var btn = el('button', d.current ? 'ghost small' : 'danger small', d.current ? 'Log out this device' : 'Revoke');
    btn.setAttribute('type', 'button');
    btn.setAttribute('data-device', String(d.id));
    btn.setAttribute('data-current', d.current ? '1' : '0');
    li.appendChild(btn);
    return li;
  }

  function onClick(e) {
    var btn = D.closestWithAttr(D.eventTarget(e), 'data-device', $('device-list'));
    if (!btn) return;
    if (btn.getAttribute('data-current') === '1') {
      C.forms.logOut();
      return;
    }
    // Two steps instead of confirm(): kiosks may block dialogs, and it is keyboard friendly.
    if (btn.getAttribute('data-armed') !== '1') {
      btn.setAttribute('data-armed', '1');
      setText(btn, 'Confirm revoke');
      return;
    }
    btn.disabled = true;
    setText(btn, 'Revoking\u2026');
    var gen = S.sessionGen;
    C.http.api('DELETE', '/devices/' + encodeURIComponent(btn.getAttribute('data-device')), null, function (res) {
      if (gen !== S.sessionGen) return;
      if (!res.ok && res.status !== 404) {
        showError('Could not revoke the device: ' + (res.error ? res.error.message : 'unexpected answer'));
      }
      load();
    });
  }

  // Tab and Shift+Tab go round the controls of the open dialog (it is modal).
  function trapFocus(e) {
    var all = $('devices').getElementsByTagName('button');
    var list = [];
    for (var i = 0; i < all.length; i++) if (!all[i].disabled) list.push(all[i]);
    if (!list.length) return;
    var active = window.document.activeElement;
    var at = -1;
    for (var j = 0; j < list.length; j++) if (list[j] === active) at = j;
    var next = at < 0 ? 0 : e.shiftKey ? (at === 0 ? list.length - 1 : -1) : at === list.length - 1 ? 0 : -1;
    if (next < 0) return; // moving inside the dialog: leave it to the browser
    D.preventDefault(e);
    D.focus(list[next]);
  }

  C.devices = {
    isOpen: isOpen,
    open: open,
    close: close,
    onClick: onClick,
    trapFocus: trapFocus,
    deviceDetails: deviceDetails
  };
})(window);

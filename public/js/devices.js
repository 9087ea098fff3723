/*
 * The chat page, file 16 of 19: the Devices dialog. Every device the user logged in from, with
 * log out (this one), revoke (another one, in two clicks) and log out every other device (in
 * two clicks: a kiosk that forgets its token on every reload leaves a device behind each
 * time, #14). A device is "Online now" only while it holds a poll (the server's `online`).
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
    show($('devices-info'), false);
    show($('devices-others'), false);
    var list = $('device-list');
    D.clear(list);
    list.appendChild(el('li', 'device-note', 'Loading\u2026'));
    if (C.views.pageScrolls()) window.scrollTo(0, 0); // the overlay is at the top of the page there
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

  function showInfo(text) {
    setText($('devices-info'), text);
    show($('devices-info'), true);
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
      var others = 0;
      for (var j = 0; j < devices.length; j++) if (!devices[j].current) others++;
      var btn = $('devices-others');
      btn.removeAttribute('data-armed');
      btn.disabled = false;
      btn.setAttribute('data-count', String(others));
      setText(btn, othersLabel(others, false));
      show(btn, others > 0);
    });
  }

  function othersLabel(n, armed) {
    if (armed) return 'Confirm: log out ' + (n === 1 ? 'the other device' : 'all ' + n + ' other devices');
    return 'Log out every other device';
  }

  // "Log out every other device": DELETE /devices?except=current, in two clicks.
  function logOutOthers() {
    var btn = $('devices-others');
    var count = parseInt(btn.getAttribute('data-count'), 10) || 0;
    if (btn.getAttribute('data-armed') !== '1') {
      btn.setAttribute('data-armed', '1');
      setText(btn, othersLabel(count, true));
      return;
    }
    btn.disabled = true;
    setText(btn, 'Logging out the others\u2026');
    show($('devices-error'), false);
    var gen = S.sessionGen;
    C.http.api('DELETE', '/devices?except=current', null, function (res) {
      if (gen !== S.sessionGen) return;
      if (res.ok && res.data && typeof res.data.revoked === 'number') {
        var n = res.data.revoked;
        showInfo(
          n === 0
            ? 'There were no other devices to log out.'
            : n === 1
              ? 'The other device was logged out.'
              : n + ' other devices were logged out.'
        );
      } else {
        showError('Could not log out the other devices: ' + (res.error ? res.error.message : 'unexpected answer'));
      }
      load();
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
    D.trapFocus($('devices'), e);
  }

  C.devices = {
    isOpen: isOpen,
    open: open,
    close: close,
    onClick: onClick,
    trapFocus: trapFocus,
    deviceDetails: deviceDetails,
    logOutOthers: logOutOthers
  };
})(window);

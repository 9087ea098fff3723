/*
 * The chat page, file 17 of 19: the group dialog (#15). "New group" (a name and members), and
 * for the open group: rename it, see its members, add one, remove one (the owner), leave.
 * The requests go through the one queue (net.js); what the group looks like afterwards comes
 * from the stream's {"type": "group"} events (groups.js), never from these answers, except
 * the group just created, which the page has not seen yet.
 */
(function (window) {
  'use strict';

  var C = window.Chat;
  var D = C.dom;
  var G = C.groups;
  var S = C.state;
  var $ = D.$,
    el = D.el,
    show = D.show,
    setText = D.setText;

  // key: the group shown (null: "New group"); busy: a request of the dialog is under way, made
  // in session busyGen.
  var dialog = { key: null, busy: false, busyGen: 0, returnFocus: null };

  function isOpen() {
    return !D.hasClass($('group-dialog'), 'hidden');
  }

  function showError(text) {
    setText($('group-error'), text);
    show($('group-error'), true);
    show($('group-info'), false);
  }

  function showInfo(text) {
    setText($('group-info'), text);
    show($('group-info'), true);
    show($('group-error'), false);
  }

  function clearMessages() {
    show($('group-error'), false);
    show($('group-info'), false);
  }

  function openDialog(key) {
    // The answer to a request of a session that has ended never comes (net.js drops it).
    if (dialog.busy && dialog.busyGen !== S.sessionGen) busy(false);
    dialog.key = key;
    dialog.returnFocus = window.document.activeElement;
    clearMessages();
    show($('group-dialog'), true);
    if (C.views.pageScrolls()) window.scrollTo(0, 0); // the overlay is at the top of the page there
  }

  // "New group".
  function openNew() {
    openDialog(null);
    $('group-create-name').value = '';
    $('group-create-members').value = '';
    refresh();
    D.focus($('group-create-name'));
  }

  // The open conversation's group.
  function openCurrent() {
    if (!S.current || !G.isKey(S.current)) return;
    openDialog(S.current);
    var c = S.convs.get(S.current);
    $('group-name').value = c && c.group ? c.group.name : '';
    $('group-add-name').value = '';
    refresh();
    D.focus($('group-close'));
  }

  function close() {
    show($('group-dialog'), false);
    var back = dialog.returnFocus;
    dialog.returnFocus = null;
    dialog.key = null;
    if (back) D.focus(back);
  }

  function memberItem(g, name, me) {
    var li = el('li', 'member');
    var label = el('span', 'member-name', name);
    li.appendChild(label);
    if (name === me) li.appendChild(el('span', 'tag', 'You'));
    if (name === g.owner) li.appendChild(el('span', 'tag tag-owner', 'Owner'));
    if (g.owner === me && name !== me) {
      var btn = el('button', 'ghost small', 'Remove');
      btn.setAttribute('type', 'button');
      btn.setAttribute('data-member', name);
      btn.setAttribute('aria-label', 'Remove ' + name + ' from the group');
      li.appendChild(btn);
    }
    return li;
  }

  // Brings the dialog up to date with the state (called on every redraw, see views.js).
  function refresh() {
    if (!isOpen() || !S.session) return;
    var creating = dialog.key === null;
    show($('group-create'), creating);
    show($('group-manage'), !creating);
    setText($('group-title'), creating ? 'New group' : 'Group');
    $('group-create-submit').disabled = dialog.busy;
    if (creating) return;
    var c = S.convs.get(dialog.key);
    var g = c ? c.group : null;
    var me = S.session.username;
    var member = !!c && c.member;
    show($('group-member-tools'), member && !!g);
    show($('group-leave'), member && !!g);
    if (!member) showInfo('You are no longer in this group.');
    var list = $('group-members');
    var focusName = focusedMember();
    D.clear(list);
    if (!g) return;
    setText($('group-members-title'), g.members.length === 1 ? '1 member' : g.members.length + ' members');
    for (var i = 0; i < g.members.length; i++) list.appendChild(memberItem(g, g.members[i], me));
    if (focusName !== null) {
      var buttons = list.getElementsByTagName('button');
      for (var j = 0; j < buttons.length; j++) if (buttons[j].getAttribute('data-member') === focusName) D.focus(buttons[j]);
    }
  }

  function focusedMember() {
    var focused = window.document.activeElement;
    return focused && focused.getAttribute && $('group-members').contains(focused) ? focused.getAttribute('data-member') : null;
  }

  function busy(on) {
    dialog.busy = on;
    dialog.busyGen = S.sessionGen;
    var ids = ['group-create-submit', 'group-rename-submit', 'group-add-submit', 'group-leave'];
    for (var i = 0; i < ids.length; i++) $(ids[i]).disabled = on;
  }

  function errorText(res) {
    if (!res.error) return 'The server sent something unexpected.';
    if (res.error.code === 'network' || res.error.code === 'timeout')
      return 'Could not reach the server. Try again when the connection is back.';
    if (res.error.code === 'not_found') return 'You are not in this group any more.';
    return res.error.message;
  }

  // One request of the dialog; done(res) only on success, errors are shown here.
  function request(method, path, body, done) {
    var gen = S.sessionGen;
    busy(true);
    clearMessages();
    C.http.api(method, path, body, function (res) {
      if (gen !== S.sessionGen) return;
      busy(false);
      if (!res.ok) showError(errorText(res));
      else done(res);
      refresh();
    });
  }

  function groupPath(suffix) {
    return '/groups/' + G.idOf(dialog.key) + (suffix || '');
  }

  function onCreate(e) {
    D.preventDefault(e);
    if (dialog.busy || !S.session) return;
    var me = S.session.username;
    var typed = G.checkNewGroup($('group-create-name').value, $('group-create-members').value, me);
    if (typed.problem) {
      showError(typed.problem);
      return;
    }
    G.expect(S, null, 'create', typed.name);
    request('POST', '/groups', { name: typed.name, members: typed.members }, function (res) {
      var g = G.cleanGroup(res.data && res.data.group);
      if (!g) return;
      var key = G.keyOf(g.id);
      // The group is new to this page unless its event came first: then the event said it
      // all, and this answer (maybe older than later events) is not applied.
      var c = S.convs.get(key);
      if (!c || !c.group) G.applyEvent(S, { type: 'group', group: g });
      close();
      C.nav.openConversation(key);
    });
  }

  function onRename(e) {
    D.preventDefault(e);
    if (dialog.busy || dialog.key === null) return;
    var typed = G.checkGroupName($('group-name').value);
    if (typed.problem) {
      showError(typed.problem);
      return;
    }
    G.expect(S, G.idOf(dialog.key), 'rename', typed.name);
    request('POST', groupPath(), { name: typed.name }, function () {
      showInfo('Renamed.');
    });
  }

  function onAdd(e) {
    D.preventDefault(e);
    if (dialog.busy || dialog.key === null) return;
    if (!C.util.trim($('group-add-name').value)) {
      showError('Type the username of the person to add.');
      return;
    }
    var typed = C.forms.checkNewConversation($('group-add-name').value);
    if (typed.problem) {
      showError(typed.problem);
      return;
    }
    G.expect(S, G.idOf(dialog.key), 'add', typed.name);
    request('POST', groupPath('/members'), { username: typed.name }, function () {
      $('group-add-name').value = '';
      showInfo(typed.name + ' is in the group.');
    });
  }

  // A member leaves (name: ourselves) or is removed by the owner, after a question in the page.
  function removeMember(name) {
    if (dialog.busy || dialog.key === null || !S.session) return;
    var me = S.session.username;
    var key = dialog.key;
    var c = S.convs.get(key);
    var groupName = c && c.group ? c.group.name : 'this group';
    var leaving = name === me;
    C.views.confirmInPage(
      leaving
        ? 'Leave \u201c' + groupName + '\u201d? You will no longer see its messages or be able to write in it.'
        : 'Remove ' + name + ' from \u201c' + groupName + '\u201d?',
      leaving ? 'Leave group' : 'Remove',
      function () {
        if (dialog.key !== key) return;
        G.expect(S, G.idOf(key), 'remove', name);
        request('DELETE', groupPath('/members/' + encodeURIComponent(name)), null, function () {
          if (leaving) close();
          else showInfo(name + ' was removed from the group.');
        });
      }
    );
  }

  function onMembersClick(e) {
    var btn = D.closestWithAttr(D.eventTarget(e), 'data-member', $('group-members'));
    if (btn) removeMember(btn.getAttribute('data-member'));
  }

  function onLeave() {
    if (S.session) removeMember(S.session.username);
  }

  function trapFocus(e) {
    D.trapFocus($('group-dialog'), e);
  }

  C.groupDialog = {
    isOpen: isOpen,
    openNew: openNew,
    openCurrent: openCurrent,
    close: close,
    refresh: refresh,
    onCreate: onCreate,
    onRename: onRename,
    onAdd: onAdd,
    onMembersClick: onMembersClick,
    onLeave: onLeave,
    trapFocus: trapFocus
  };
})(window);

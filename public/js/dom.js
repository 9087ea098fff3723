/*
 * The chat page, file 2 of 19: the DOM helpers. They touch the document only when called, so
 * loading this file needs none (the unit tests load the page's pure parts under Node). Old
 * engines are why they exist: no classList, no closest(), attachEvent where addEventListener
 * is missing.
 */
(function (window) {
  'use strict';

  var C = window.Chat;
  var trim = C.util.trim;

  function $(id) {
    return window.document.getElementById(id);
  }

  function on(el, type, fn) {
    if (el.addEventListener) el.addEventListener(type, fn, false);
    else if (el.attachEvent)
      el.attachEvent('on' + type, function () {
        fn.call(el, window.event);
      });
  }

  function preventDefault(e) {
    if (e.preventDefault) e.preventDefault();
    else e.returnValue = false;
  }

  function hasClass(el, name) {
    return (' ' + el.className + ' ').indexOf(' ' + name + ' ') >= 0;
  }
  function addClass(el, name) {
    if (!hasClass(el, name)) el.className = trim(el.className + ' ' + name);
  }
  function removeClass(el, name) {
    el.className = trim((' ' + el.className + ' ').replace(' ' + name + ' ', ' '));
  }
  function toggleClass(el, name, wanted) {
    if (wanted) addClass(el, name);
    else removeClass(el, name);
  }
  function show(el, visible) {
    toggleClass(el, 'hidden', !visible);
  }

  // Builds an element. Text is always added as a text node: nothing from the server or the
  // user is ever parsed as HTML.
  function el(tag, className, text) {
    var node = window.document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.appendChild(window.document.createTextNode(String(text)));
    return node;
  }
  function setText(node, text) {
    while (node.firstChild) node.removeChild(node.firstChild);
    node.appendChild(window.document.createTextNode(String(text)));
  }
  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
  }

  // Walks up from an event target to the nearest element carrying the attribute.
  function closestWithAttr(node, attr, stopAt) {
    while (node && node !== stopAt && node.nodeType === 1) {
      if (node.getAttribute(attr) !== null) return node;
      node = node.parentNode;
    }
    return null;
  }

  function eventTarget(e) {
    return e.target || e.srcElement;
  }

  // focus() throws in old IE on hidden elements; a missed focus is never worth an error.
  function focus(node) {
    try {
      node.focus();
    } catch (e) {
      /* hidden on some layouts */
    }
  }

  // Whether the reader can see the page (not a hidden tab): read markers and presence wait.
  function pageVisible() {
    var document = window.document;
    return !(document.hidden || document.webkitHidden || document.msHidden);
  }

  // Tab (e, a keydown) and Shift+Tab go round the buttons and fields shown in a modal
  // container, in document order.
  function trapFocus(container, e) {
    var all = container.getElementsByTagName('*');
    var list = [];
    for (var i = 0; i < all.length; i++) {
      var tag = all[i].nodeName;
      if (tag !== 'BUTTON' && tag !== 'INPUT' && tag !== 'TEXTAREA') continue;
      if (!all[i].disabled && (all[i].offsetWidth > 0 || all[i].offsetHeight > 0)) list.push(all[i]);
    }
    if (!list.length) return;
    var active = window.document.activeElement;
    var at = -1;
    for (var j = 0; j < list.length; j++) if (list[j] === active) at = j;
    var next = at < 0 ? 0 : e.shiftKey ? (at === 0 ? list.length - 1 : -1) : at === list.length - 1 ? 0 : -1;
    if (next < 0) return; // moving inside the container: leave it to the browser
    preventDefault(e);
    focus(list[next]);
  }

  C.dom = {
    $: $,
    on: on,
    preventDefault: preventDefault,
    hasClass: hasClass,
    addClass: addClass,
    removeClass: removeClass,
    toggleClass: toggleClass,
    show: show,
    el: el,
    setText: setText,
    clear: clear,
    closestWithAttr: closestWithAttr,
    eventTarget: eventTarget,
    focus: focus,
    trapFocus: trapFocus,
    pageVisible: pageVisible
  };
})(window);

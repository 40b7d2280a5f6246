// Embeds a Parley form in another site:
//   <script src="https://parley.example/form/embed.js" data-parley-form="https://parley.example/f/WS/FORM" async></script>
// puts the form's page in an iframe where the script stands, sized to
// its content (the page posts its height). The site must be one of the
// form's allowed origins (its frame-ancestors).
(function () {
  'use strict';
  var script = document.currentScript;
  if (!script) return;
  var src = script.getAttribute('data-parley-form');
  if (!src) return;
  var frame = document.createElement('iframe');
  frame.src = src;
  frame.title = script.getAttribute('data-title') || 'Form';
  frame.style.width = '100%';
  frame.style.border = '0';
  frame.style.minHeight = '320px';
  frame.setAttribute('loading', 'lazy');
  script.parentNode.insertBefore(frame, script.nextSibling);
  var origin = new URL(src, location.href).origin;
  window.addEventListener('message', function (ev) {
    if (ev.origin !== origin || ev.source !== frame.contentWindow || !ev.data || !ev.data.parleyForm) return;
    var h = Number(ev.data.height);
    if (h > 0 && h < 10000) frame.style.height = h + 'px';
  });
})();

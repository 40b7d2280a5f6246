// The public page of a Parley form (gateway/forms_page.go): posts the
// values as JSON to the page's own address and shows each error beside
// its field, or the thank-you message. A page framed by /form/embed.js
// tells its parent its height.
(function () {
  'use strict';
  var form = document.getElementById('pf-form');
  if (!form) return;
  var summary = document.getElementById('pf-summary');
  var thanks = document.getElementById('pf-thanks');

  function tellHeight() {
    if (window.parent !== window) {
      window.parent.postMessage({ parleyForm: true, height: document.documentElement.scrollHeight }, '*');
    }
  }

  function clearErrors() {
    summary.hidden = true;
    summary.textContent = '';
    form.querySelectorAll('.pf-field').forEach(function (f) {
      var el = f.querySelector('[name]');
      if (el) el.removeAttribute('aria-invalid');
      var err = f.querySelector('.pf-error');
      if (err) err.textContent = '';
    });
  }

  function values() {
    var out = {};
    form.querySelectorAll('.pf-field [name]').forEach(function (el) {
      if (el.type === 'checkbox') out[el.name] = el.checked ? 'true' : 'false';
      else if (el.multiple) out[el.name] = Array.prototype.filter.call(el.options, function (o) { return o.selected; }).map(function (o) { return o.value; }).join(', ');
      else out[el.name] = el.value;
    });
    return out;
  }

  function showErrors(list, message) {
    var first = null;
    (list || []).forEach(function (e) {
      var f = form.querySelector('.pf-field[data-key="' + CSS.escape(e.field) + '"]');
      if (!f) return;
      var el = f.querySelector('[name]');
      el.setAttribute('aria-invalid', 'true');
      f.querySelector('.pf-error').textContent = e.message;
      if (!first) first = el;
    });
    if (!first) {
      summary.textContent = message || 'Could not send the form.';
      summary.hidden = false;
    } else {
      first.focus();
    }
    tellHeight();
  }

  form.addEventListener('submit', function (ev) {
    ev.preventDefault();
    clearErrors();
    var btn = form.querySelector('.pf-submit');
    btn.disabled = true;
    var hp = document.getElementById('pf-hp');
    fetch(form.getAttribute('action'), {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ values: values(), website: hp ? hp.value : '' }),
    }).then(function (resp) {
      return resp.json().catch(function () { return {}; }).then(function (body) {
        if (resp.ok) {
          form.hidden = true;
          thanks.textContent = body.thank_you || form.dataset.thankYou;
          thanks.hidden = false;
          thanks.focus();
          tellHeight();
          return;
        }
        var e = body.error || {};
        showErrors(e.fields, e.message);
      });
    }).catch(function () {
      showErrors(null, 'Could not reach the server: check your connection and try again.');
    }).then(function () { btn.disabled = false; });
  });
  window.addEventListener('load', tellHeight);
})();

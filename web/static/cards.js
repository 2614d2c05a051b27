// After an action on a recommendation card the page comes back at that card (#rec-<id>): keep keyboard focus
// there rather than at the top of the page. The confirmation itself stays in view (.flashes is sticky).
(function () {
  "use strict";
  var target = /^#rec-\d+$/.test(window.location.hash) && document.getElementById(window.location.hash.slice(1));
  if (target) { target.focus({ preventScroll: true }); }
})();

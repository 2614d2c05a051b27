// After an action on a recommendation card the page comes back at that card (#rec-<id>): keep keyboard focus
// there rather than at the top of the page. The confirmation itself stays in view (.flashes is sticky).
(function () {
  "use strict";
  var target = /^#rec-\d+$/.test(window.location.hash) && document.getElementById(window.location.hash.slice(1));
  if (target) { target.focus({ preventScroll: true }); }
  // A daily playlist has no weekday: the day is only offered for "Weekly".
  var frequency = document.getElementById("frequency");
  var weekday = document.getElementById("weekday");
  if (frequency && weekday) {
    var sync = function () { weekday.disabled = frequency.value === "daily"; };
    frequency.addEventListener("change", sync);
    sync();
  }
})();

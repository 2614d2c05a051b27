// Upload progress for the import form: sends the files with XHR so the bar can move, then follows the server's answer.
// Without JavaScript the form still posts normally.
(function () {
  "use strict";
  var form = document.getElementById("upload-form");
  if (!form || !window.FormData || !window.XMLHttpRequest) { return; }
  form.addEventListener("submit", function (event) {
    var bar = document.getElementById("upload-progress");
    var status = document.getElementById("upload-status");
    var xhr = new XMLHttpRequest();
    event.preventDefault();
    bar.hidden = false;
    xhr.upload.addEventListener("progress", function (e) {
      if (e.lengthComputable) {
        var pct = Math.round((100 * e.loaded) / e.total);
        bar.value = pct;
        bar.textContent = pct + "%";
        status.textContent = "Uploading… " + pct + "%";
      }
    });
    xhr.addEventListener("load", function () {
      status.textContent = "Uploaded. Reading your history…";
      window.location.assign(xhr.responseURL || form.action);
    });
    xhr.addEventListener("error", function () {
      status.textContent = "The upload failed. Check your connection and try again.";
    });
    xhr.open("POST", form.action);
    xhr.send(new FormData(form));
  });
})();

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
      if (xhr.status < 400 && /\/import\/progress\//.test(xhr.responseURL || "")) {
        status.textContent = "Uploaded. Reading your history…";
        window.location.assign(xhr.responseURL);
        return;
      }
      // Refused (a message on the import page, or an error page): show the server's answer as it is,
      // since following the redirect again would lose its one-time message.
      document.open();
      document.write(xhr.responseText);
      document.close();
    });
    xhr.addEventListener("error", function () {
      status.textContent = "The upload failed. Check your connection and try again.";
    });
    xhr.open("POST", form.action);
    xhr.send(new FormData(form));
  });
})();

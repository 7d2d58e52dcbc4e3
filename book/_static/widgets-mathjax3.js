// ipywidgets' html-manager calls the MathJax 2 API MathJax.Hub.Queue(["Typeset", hub, el])
// to typeset widget labels; Sphinx loads MathJax 3, which has no Hub, so every widget on a
// page with maths threw. Map the call onto MathJax 3 (see book/_ext/offline_book.py).
// Installed on DOMContentLoaded: after the deferred MathJax script has run and before the
// widgets render (the html-manager waits for window "load").
document.addEventListener("DOMContentLoaded", function () {
  var mj = window.MathJax;
  if (!mj || mj.Hub || !mj.startup) return; // no MathJax, MathJax 2, or not MathJax 3
  mj.Hub = {
    Queue: function () {
      Array.prototype.forEach.call(arguments, function (job) {
        if (!Array.isArray(job) || job[0] !== "Typeset" || !job[2]) return;
        var m = window.MathJax;
        Promise.resolve(m.startup.promise)
          .then(function () { return m.typesetPromise ? m.typesetPromise([job[2]]) : null; })
          .catch(function (err) { console.warn("MathJax could not typeset a widget:", err); });
      });
    },
  };
});

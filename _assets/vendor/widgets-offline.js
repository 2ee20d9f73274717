/* Glue between the vendored widget renderer and this book (not part of any npm package).
 *
 * Loaded after require.js and before @jupyter-widgets/html-manager's embed-amd.js.
 *
 * 1. Fonts: the renderer's modules are defined inside embed-amd.js under their npm names, and
 *    each finds its Font Awesome files next to the URL require.js gives its name, which by
 *    default is relative to the page ("chapters/04_zab/@jupyter-widgets/base.js"): 404s on every
 *    page with a panel, online too. Point every name at the folder the fonts ship in.
 * 2. Maths: html-manager 1.0.x typesets widget descriptions with MathJax 2's
 *    MathJax.Hub.Queue(["Typeset", MathJax.Hub, element]) whenever window.MathJax exists, but
 *    the book loads MathJax 3 (Sphinx's default), which has no Hub: every described control
 *    threw "Cannot read properties of undefined (reading 'Queue')". Give MathJax 3 that one call.
 */
(function () {
  var here = document.currentScript.src.replace(/[?#].*$/, '').replace(/[^/]*$/, '');
  var dist = here + 'html-manager-1.0.15/';
  var names = ['@jupyter-widgets/base', '@jupyter-widgets/base7', '@jupyter-widgets/controls',
               '@jupyter-widgets/controls7', '@jupyter-widgets/html-manager',
               '@jupyter-widgets/html-manager/dist/libembed-amd'];
  var paths = {};
  names.forEach(function (name) { paths[name] = dist + name.replace(/\//g, '-'); });
  window.require.config({paths: paths});

  function typeset(element) {
    var mathjax = window.MathJax;
    if (!mathjax || !mathjax.startup || !mathjax.startup.promise) return;  // not started yet:
    // its first typeset of the page will see the element
    mathjax.startup.promise.then(function () {
      return mathjax.typesetPromise ? mathjax.typesetPromise([element]) : null;
    }).catch(function (error) { console.warn('MathJax could not typeset a widget', error); });
  }
  var hub = {Queue: function () {
    for (var i = 0; i < arguments.length; i++) {
      var job = arguments[i];
      if (Array.isArray(job) && job[0] === 'Typeset' && job[2]) typeset(job[2]);
    }
  }};
  function addHub() {
    if (window.MathJax && !window.MathJax.Hub) window.MathJax.Hub = hub;
  }
  if (window.MathJax) {
    // Before MathJax 3 starts, window.MathJax is its configuration; once it has started it is
    // MathJax itself, so the shim is added again when it is ready.
    var startup = window.MathJax.startup || {};
    var ready = startup.ready;
    startup.ready = function () {
      if (ready) ready(); else window.MathJax.startup.defaultReady();
      addHub();
    };
    window.MathJax.startup = startup;
    addHub();
  }
})();

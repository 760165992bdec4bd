// The live page: follow the run's events, redraw the report's charts and figures from
// each (drawReport, report.html's own script), and once the run is over show the final
// report.html in this page's place.
(function () {
  'use strict';
  var banner = document.getElementById('live');
  var source = new EventSource('events');
  function say(text) { if (banner) banner.textContent = text; }
  source.onmessage = function (e) {
    var event = JSON.parse(e.data);
    if (event.final) {
      source.close();
      document.open();
      document.write(event.html);
      document.close();
      return;
    }
    say('live: ' + event.elapsed_s.toFixed(0) + ' s, ' + event.calls.toLocaleString('en') + ' calls, '
      + event.successes.toLocaleString('en') + ' successful');
    if (banner) banner.dataset.calls = String(event.calls);
    window.drawReport(event.data);
  };
  source.onerror = function () { say('live: the run\'s dashboard is not answering (the run may be over)'); };
})();

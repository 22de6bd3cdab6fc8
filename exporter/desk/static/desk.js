// The only script of the care-plan desk (the Content-Security-Policy allows no inline
// script): buttons marked data-print open the browser's print dialog.
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("[data-print]").forEach(function (button) {
    button.addEventListener("click", function () { window.print(); });
  });
});

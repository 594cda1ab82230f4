// Small things every page shares: the CSRF token of a form, copy buttons.

/** The CSRF token of ``form`` (its hidden field), else the layout's logout form's one. */
export function csrfToken(form) {
  const field = form?.querySelector("input[name=csrf_token]") || document.querySelector("input[name=csrf_token]");
  return field ? field.value : "";
}

export function setUpCopyButtons() {
  if (!navigator.clipboard) return; // only on https or localhost
  document.querySelectorAll("button[data-copy]").forEach((button) => {
    const source = document.querySelector(button.dataset.copy);
    if (!source) return;
    button.hidden = false;
    button.addEventListener("click", async () => {
      try {
        await navigator.clipboard.writeText(source.value ?? source.textContent);
        button.textContent = "Copied";
      } catch {
        source.select?.();
        button.textContent = "Press Ctrl+C";
      }
      setTimeout(() => {
        button.textContent = "Copy";
      }, 1500);
    });
  });
}

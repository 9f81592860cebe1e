// In-place voting: a vote form's submit becomes a fetch, so the page keeps its place.
// The form itself still works without this script (it posts and comes back). The CSRF
// token travels in the X-CSRF-Token header, as the server accepts for scripts.
"use strict";
document.addEventListener("submit", async (event) => {
  const form = event.target;
  if (!(form instanceof HTMLFormElement) || !form.classList.contains("vote")) return;
  event.preventDefault();
  const button = form.querySelector("button");
  const token = form.querySelector("input[name=csrf_token]").value;
  button.disabled = true;
  try {
    const response = await fetch(form.action, {
      method: "POST",
      headers: {
        "Accept": "application/json",
        "Content-Type": "application/x-www-form-urlencoded",
        "X-CSRF-Token": token,
      },
      body: new URLSearchParams({ state: "toggle" }),
      credentials: "same-origin",
    });
    if (!response.ok) throw new Error(`vote answered ${response.status}`);
    const { voted, upvotes } = await response.json();
    button.classList.toggle("voted", voted);
    button.setAttribute("aria-pressed", voted ? "true" : "false");
    button.setAttribute("aria-label", `${voted ? "Remove your vote" : "Upvote"} (${upvotes} votes)`);
    button.querySelector(".count").textContent = String(upvotes);
  } catch {
    form.submit(); // the plain form: the server answers with the page
  } finally {
    button.disabled = false;
  }
});

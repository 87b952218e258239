// The key screens: create or import a key (stored encrypted), then unlock it and sign in.
import { BadSecret, WrongPassphrase } from "../shared/keystore.js";
import { h } from "./dom.js";
import { t } from "./i18n.js";

function field(id, label, type = "password", extra = {}) {
  return h("label", { for: id }, label, h("input", { id, type, autocomplete: "off", ...extra }));
}

export function setupView(app) {
  const create = h(
    "form",
    { id: "create-form", class: "card", onsubmit: (e) => onCreate(e, app) },
    h("h2", {}, t("setup.create")),
    field("create-pass", t("setup.passphrase")),
    field("create-pass2", t("setup.passphrase2")),
    h("button", { id: "create-btn", type: "submit" }, t("setup.create")),
  );
  const imported = h(
    "form",
    { id: "import-form", class: "card", onsubmit: (e) => onImport(e, app) },
    h("h2", {}, t("setup.import")),
    field("import-secret", t("setup.secret"), "password"),
    field("import-pass", t("setup.passphrase")),
    h("button", { id: "import-btn", type: "submit" }, t("setup.import")),
  );
  return h("section", { id: "setup" }, h("p", {}, t("setup.intro")), create, imported);
}

async function onCreate(event, app) {
  event.preventDefault();
  const pass = app.value("create-pass");
  if (pass !== app.value("create-pass2")) return app.status(t("setup.mismatch"), "error");
  await app.busy(t("setup.working"), async () => {
    app.wallet = await app.keystore.create(pass);
  }, keyErrors);
  if (!app.wallet) return;
  // Shown once, now: the phrase restores this key and every pseudonym derived from it.
  app.backupPhrase = app.wallet.mnemonic.phrase;
  app.render();
}

// A new key's recovery phrase, numbered words; nothing else shows it again.
export function backupView(app) {
  const words = app.backupPhrase.split(" ");
  return h(
    "section",
    { id: "backup", class: "card" },
    h("h2", {}, t("backup.title")),
    h("p", { class: "warn" }, t("backup.intro")),
    h("ol", { id: "backup-words", class: "words" }, words.map((w) => h("li", {}, w))),
    h("button", { id: "backup-done", type: "button", onclick: async () => {
      app.backupPhrase = null;
      await app.signIn();
    } }, t("backup.done")),
  );
}

async function onImport(event, app) {
  event.preventDefault();
  await app.busy(t("setup.working"), async () => {
    app.wallet = await app.keystore.importSecret(app.value("import-secret"), app.value("import-pass"));
  }, keyErrors);
  if (app.wallet) await app.signIn();
}

function keyErrors(error) {
  return error instanceof BadSecret ? error.message : null;
}

export function unlockView(app) {
  return h(
    "section",
    { id: "unlock" },
    h(
      "form",
      { id: "unlock-form", class: "card", onsubmit: (e) => onUnlock(e, app) },
      h("h2", {}, t("unlock.title")),
      h("p", { class: "address" }, t("unlock.account", { address: app.keystore.address() })),
      field("unlock-pass", t("unlock.passphrase")),
      h("button", { id: "unlock-btn", type: "submit" }, t("unlock.button")),
    ),
    h(
      "button",
      {
        id: "forget-btn",
        class: "link",
        type: "button",
        onclick: () => {
          if (window.confirm(t("unlock.forget.confirm"))) {
            app.keystore.forget();
            app.render();
          }
        },
      },
      t("unlock.forget"),
    ),
  );
}

async function onUnlock(event, app) {
  event.preventDefault();
  await app.busy(t("unlock.working"), async () => {
    app.wallet = await app.keystore.unlock(app.value("unlock-pass"));
  }, (error) => (error instanceof WrongPassphrase ? t("unlock.wrong") : null));
  if (app.wallet) await app.signIn();
}

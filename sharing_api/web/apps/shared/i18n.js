// Language switching shared by the wallet and the console: each app keeps its own
// dictionaries (STRINGS: a dictionary per language) and its own saved choice. No DOM here,
// so the apps' dictionaries can be imported and checked in Node.
// `{name}` placeholders are filled by t(key, {name: value}).

export function translator(strings, langs, storageKey) {
  let current = "en";

  function initialLang(storage = globalThis.localStorage, nav = globalThis.navigator) {
    const saved = storage?.getItem(storageKey);
    if (langs.includes(saved)) return saved;
    return nav?.language?.toLowerCase().startsWith("zh") ? "zh-CN" : "en";
  }

  function setLang(lang, storage = globalThis.localStorage) {
    if (!langs.includes(lang)) throw new Error(`unknown language ${lang}`);
    current = lang;
    storage?.setItem(storageKey, lang);
  }

  function lang() {
    return current;
  }

  function t(key, params = {}) {
    const text = strings[current][key] ?? strings.en[key];
    if (text === undefined) throw new Error(`no text for ${key}`);
    return text.replace(/\{(\w+)\}/g, (_, name) =>
      name in params ? String(params[name]) : `{${name}}`,
    );
  }

  return { initialLang, setLang, lang, t };
}

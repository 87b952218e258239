// Regulator console: placeholder that proves the bundle loads.
import { api } from "../shared/api.js";

const root = document.getElementById("app");
root.textContent = `console ready (${typeof api})`;
root.dataset.ready = "true";

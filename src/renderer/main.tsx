import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { App } from "./App.js";
import { ApiContext } from "./api.js";
import { createTransport } from "./transport.js";
import "./styles.css";

const root = document.getElementById("root");
if (root === null) throw new Error("index.html has no #root element");
const { api, mode } = createTransport();
createRoot(root).render(
  <StrictMode>
    <ApiContext.Provider value={api}>
      <App mode={mode} />
    </ApiContext.Provider>
  </StrictMode>,
);

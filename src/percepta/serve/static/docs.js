// percepta serve: the API reference, rendered from /openapi.json without any third-party script.
"use strict";

function el(tag, props = {}, ...children) {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children.filter((c) => c !== null && c !== undefined));
  return node;
}

function resolve(spec, schema) {
  while (schema && schema.$ref) schema = schema.$ref.split("/").slice(1).reduce((o, k) => o[k], spec);
  return schema || {};
}

function typeOf(spec, schema) {
  schema = resolve(spec, schema);
  if (schema.anyOf) return schema.anyOf.map((s) => typeOf(spec, s)).filter((t) => t !== "null").join(" | ");
  if (schema.enum) return schema.enum.map((v) => JSON.stringify(v)).join(" | ");
  if (schema.format === "binary" || schema.contentMediaType) return "file";
  let type = schema.type || "any";
  const bounds = [];
  if (schema.minimum !== undefined) bounds.push(`>= ${schema.minimum}`);
  if (schema.maximum !== undefined) bounds.push(`<= ${schema.maximum}`);
  if (bounds.length) type += ` (${bounds.join(", ")})`;
  return type;
}

function fields(spec, op) {
  const body = op.requestBody && op.requestBody.content;
  if (!body) return null;
  const media = Object.keys(body)[0];
  const schema = resolve(spec, body[media].schema);
  const required = new Set(schema.required || []);
  const rows = Object.entries(schema.properties || {}).map(([name, prop]) => {
    const p = resolve(spec, prop);
    const dflt = p.default !== undefined ? ` (default ${JSON.stringify(p.default)})` : "";
    return el("tr", {}, el("td", {}, el("code", { textContent: name })),
      el("td", { textContent: typeOf(spec, prop) + (required.has(name) ? ", required" : "") + dflt }),
      el("td", { textContent: p.description || "" }));
  });
  return el("div", {}, el("p", { className: "muted", textContent: `request body: ${media}` }),
    el("table", {}, el("tr", {}, el("th", { textContent: "field" }), el("th", { textContent: "type" }),
      el("th", { textContent: "what" })), ...rows));
}

async function main() {
  const root = document.getElementById("api");
  const spec = await (await fetch("/openapi.json")).json();
  root.replaceChildren(el("p", { textContent: spec.info.description || "" }));
  for (const [path, methods] of Object.entries(spec.paths)) {
    for (const [method, op] of Object.entries(methods)) {
      const responses = Object.entries(op.responses || {}).map(([code, r]) =>
        el("li", {}, el("code", { textContent: code }), ` ${r.description || ""} `,
          el("span", { className: "muted", textContent: Object.keys(r.content || {}).join(", ") })));
      root.append(el("section", { className: "panel" },
        el("h2", {}, el("code", { textContent: `${method.toUpperCase()} ${path}` })),
        el("p", { textContent: op.description || op.summary || "" }),
        fields(spec, op),
        el("ul", {}, ...responses)));
    }
  }
}

main().catch((err) => { document.getElementById("api").textContent = `cannot load /openapi.json: ${err}`; });

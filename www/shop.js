// The demo shop's only script: product data, a localStorage cart, and the spur.track calls a
// real shop would make. Clicks on buttons with data-spur-event are tracked by the tracker
// itself (no code here); everything else goes through window.spur (the snippet's queue).
const PRODUCTS = [
  { id: "trail-runner", name: "Trail Runner", category: "shoes", price: 89 },
  { id: "city-sneaker", name: "City Sneaker", category: "shoes", price: 65 },
  { id: "wool-beanie", name: "Wool Beanie", category: "hats", price: 25 },
  { id: "sun-hat", name: "Sun Hat", category: "hats", price: 32 },
  { id: "day-pack", name: "Day Pack", category: "bags", price: 54 },
  { id: "merino-socks", name: "Merino Socks", category: "socks", price: 14 },
];
const byId = (id) => PRODUCTS.find((p) => p.id === id);
const $ = (sel) => document.querySelector(sel);

function cart() {
  try {
    return JSON.parse(localStorage.getItem("spur-demo-cart") || "[]");
  } catch {
    return [];
  }
}
function saveCart(items) {
  localStorage.setItem("spur-demo-cart", JSON.stringify(items));
  const n = $("#cart-count");
  if (n) n.textContent = String(items.length);
}
const total = (items) => items.reduce((s, id) => s + (byId(id)?.price ?? 0), 0);

function addToCart(product) {
  saveCart([...cart(), product.id]);
}

function renderList() {
  const ul = $("#products");
  if (!ul) return;
  for (const p of PRODUCTS) {
    const li = document.createElement("li");
    li.className = "card";
    li.innerHTML = `<a href="/product.html?id=${p.id}" class="name"></a><span class="muted"></span><span class="price"></span>`;
    li.querySelector(".name").textContent = p.name;
    li.querySelector(".muted").textContent = p.category;
    li.querySelector(".price").textContent = `${p.price} €`;
    ul.append(li);
  }
  $("#buy")?.addEventListener("click", () => {
    const p = byId("trail-runner");
    addToCart(p);
    spur.track("Added To Cart", { product_id: p.id, category: p.category, price: p.price, source: "hero" });
  });
}

function renderProduct() {
  if (!$("#product")) return;
  const p = byId(new URLSearchParams(location.search).get("id")) ?? PRODUCTS[0];
  document.title = `${p.name} · Spur shop`;
  $("#product-name").textContent = p.name;
  $("#product-category").textContent = p.category;
  $("#product-price").textContent = `${p.price} €`;
  const btn = $("#add-to-cart");
  // The tracker turns these data-spur-* attributes into the event's properties.
  btn.setAttribute("data-spur-product_id", p.id);
  btn.setAttribute("data-spur-category", p.category);
  btn.addEventListener("click", () => {
    addToCart(p);
    btn.textContent = "Added ✓";
  });
  spur.track("Product Viewed", { product_id: p.id, name: p.name, category: p.category, price: p.price });
}

function renderCart() {
  const ul = $("#cart-items");
  if (!ul) return;
  const items = cart();
  ul.replaceChildren(
    ...items.map((id) => {
      const li = document.createElement("li");
      li.textContent = `${byId(id)?.name ?? id} — ${byId(id)?.price ?? 0} €`;
      return li;
    }),
  );
  if (!items.length) ul.innerHTML = '<li class="muted">Your cart is empty.</li>';
  $("#cart-total").textContent = String(total(items));
  $("#empty-cart").addEventListener("click", () => {
    saveCart([]);
    renderCart();
  });
}

function renderCheckout() {
  const form = $("#checkout-form");
  if (!form) return;
  $("#checkout-total").textContent = String(total(cart()));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const items = cart();
    const email = $("#email").value.trim().toLowerCase();
    const orderId = `o-${Date.now().toString(36)}`;
    spur.identify(email, { email });
    spur.track("Order Completed", {
      order_id: orderId,
      total: total(items),
      items: items.length,
      category: byId(items[0])?.category ?? null,
    });
    spur.flush();
    saveCart([]);
    form.hidden = true;
    $("#order-id").textContent = orderId;
    $("#thanks").hidden = false;
  });
}

function renderSignup() {
  const form = $("#signup-form");
  if (!form) return;
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const email = $("#signup-email").value.trim().toLowerCase();
    const plan = $("#plan").value;
    spur.identify(email, { email, plan });
    spur.track("Signed Up", { plan });
    spur.flush();
    form.hidden = true;
    $("#welcome").hidden = false;
  });
}

saveCart(cart());
renderList();
renderProduct();
renderCart();
renderCheckout();
renderSignup();

/* netplan map pages: fills folium's Leaflet maps from the JSON configuration in the page.
 * Part of netplan (MIT licence). Needs Leaflet 1.9 (inlined before this script).
 *
 * folium creates each L.map; netplan.attach(map, i) then adds panel i of the
 * configuration (the JSON script element with id np-config) to it.
 * Every layer becomes one L.geoJSON layer. Points and two-point lines arrive
 * column by column ({enc: "points"|"segments", xy, p}) and are expanded to a
 * FeatureCollection here; vector layers share one canvas renderer, so tens of
 * thousands of points stay fast. Several maps on a page (comparisons) pan,
 * zoom and toggle layers together once the last panel is attached.
 */
(function () {
  "use strict";
  var NP = (window.netplan = window.netplan || {});
  NP.errors = [];
  window.addEventListener("error", function (e) {
    NP.errors.push(String((e && e.message) || e));
  });

  var ESC = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
  function esc(s) {
    return String(s).replace(/[&<>"']/g, function (c) {
      return ESC[c];
    });
  }

  var formats = {};
  function fmtNum(v, digits, lang) {
    var key = lang + digits;
    if (!formats[key]) {
      formats[key] = new Intl.NumberFormat(lang === "zh" ? "zh-CN" : "en-GB", {
        minimumFractionDigits: digits,
        maximumFractionDigits: digits,
      });
    }
    return formats[key].format(v);
  }

  function fmt(v, kind, cfg) {
    if (v === null || v === undefined || v === "") return null;
    if (typeof v === "boolean") return esc(v ? cfg.labels.yes : cfg.labels.no);
    if (typeof v !== "number" || kind === "text") return esc(v);
    if (kind === "int") return fmtNum(v, 0, cfg.lang);
    if (kind === "f1") return fmtNum(v, 1, cfg.lang);
    if (kind === "pct") return fmtNum(v * 100, 1, cfg.lang) + "%";
    return fmtNum(v, Math.round(v) === v ? 0 : 1, cfg.lang);
  }

  function toGeoJSON(data) {
    if (!data.enc) return data;
    var xy = data.xy,
      p = data.p || {},
      keys = Object.keys(p),
      step = data.enc === "segments" ? 4 : 2,
      n = xy.length / step,
      features = new Array(n);
    for (var i = 0; i < n; i++) {
      var props = {};
      for (var k = 0; k < keys.length; k++) props[keys[k]] = p[keys[k]][i];
      var j = i * step;
      var geometry =
        step === 2
          ? { type: "Point", coordinates: [xy[j], xy[j + 1]] }
          : { type: "LineString", coordinates: [[xy[j], xy[j + 1]], [xy[j + 2], xy[j + 3]]] };
      features[i] = { type: "Feature", properties: props, geometry: geometry };
    }
    return { type: "FeatureCollection", features: features };
  }

  function styleOf(spec, props) {
    var s = {},
      k,
      base = spec.style || {};
    for (k in base) s[k] = base[k];
    (spec.by || []).forEach(function (rule) {
      var o = rule.map[String(props[rule.prop])];
      if (o) for (k in o) s[k] = o[k];
    });
    if (spec.colorProp && props[spec.colorProp]) s.color = props[spec.colorProp];
    if (spec.radiusProp && props[spec.radiusProp] != null) s.radius = props[spec.radiusProp];
    return s;
  }

  function titleOf(P, props, cfg) {
    if (!P.title) return P.subtitle || "";
    var t = props[P.title];
    return t === null || t === undefined || t === "" ? cfg.labels.unnamed : t;
  }

  function popupHtml(spec, props, cfg) {
    var P = spec.popup,
      out = '<div class="np-pop"><div class="np-pop-title">' + esc(titleOf(P, props, cfg)) + "</div>";
    if (P.title && P.subtitle) out += '<div class="np-pop-sub">' + esc(P.subtitle) + "</div>";
    out += "<table>";
    (P.fields || []).forEach(function (f) {
      var t = fmt(props[f[0]], f[2], cfg);
      if (t !== null) out += "<tr><th>" + esc(f[1]) + "</th><td>" + t + "</td></tr>";
    });
    return out + "</table></div>";
  }

  function tooltipHtml(spec, props, cfg) {
    var P = spec.tooltip,
      out = "<b>" + esc(titleOf(P, props, cfg)) + "</b>";
    if (P.title && P.subtitle) out += " · " + esc(P.subtitle);
    (P.fields || []).forEach(function (f) {
      var t = fmt(props[f[0]], f[2], cfg);
      if (t !== null) out += "<br>" + esc(f[1]) + ": " + t;
    });
    return out;
  }

  var icons = {};
  function iconFor(spec, props, cfg) {
    var t = props.tier,
      key = spec.icon && spec.icon !== "auto" ? spec.icon.replace("{t}", t) : t + (props.existing ? "-e" : "-n"),
      cacheKey = key + "|" + (spec.badge || "");
    if (!icons[cacheKey]) {
      var size = cfg.iconSizes[t] || 16,
        badge = "";
      if (spec.badge) {
        var add = spec.badge === "+";
        badge = '<span class="np-badge np-badge-' + (add ? "add" : "del") + '">' + (add ? "+" : "\u2212") + "</span>";
      }
      icons[cacheKey] = L.divIcon({
        html: (cfg.icons[key] || cfg.icons[t + "-n"] || "") + badge,
        className: "np-icon np-tier" + t,
        iconSize: [size, size],
        iconAnchor: [size / 2, size / 2],
        popupAnchor: [0, -size / 2],
        tooltipAnchor: [size / 2, 0],
      });
    }
    return icons[cacheKey];
  }

  function makeLayer(spec, ctx, cfg) {
    var fc = toGeoJSON(spec.data),
      interactive = spec.interactive !== false && !!(spec.popup || spec.tooltip),
      layer;
    if (spec.kind === "markers") {
      layer = L.geoJSON(fc, {
        pointToLayer: function (f, ll) {
          // lower tiers on top: a collection point stays visible on a transfer station at the same site
          var z = (5 - (f.properties.tier || 1)) * 10000 + (spec.badge ? 50000 : 0);
          return L.marker(ll, { icon: iconFor(spec, f.properties, cfg), keyboard: false, riseOnHover: true, zIndexOffset: z });
        },
      });
    } else if (spec.kind === "circles") {
      layer = L.geoJSON(fc, {
        pointToLayer: function (f, ll) {
          var o = styleOf(spec, f.properties);
          o.renderer = ctx.renderer;
          o.interactive = interactive;
          return L.circleMarker(ll, o);
        },
      });
    } else {
      var base = spec.pane === "base";
      layer = L.geoJSON(fc, {
        renderer: base ? ctx.baseRenderer : ctx.renderer,
        pane: base ? "npBase" : "overlayPane",
        interactive: interactive,
        style: function (f) {
          return styleOf(spec, f.properties);
        },
      });
    }
    if (interactive && spec.popup) {
      layer.bindPopup(
        function (l) {
          return popupHtml(spec, l.feature.properties, cfg);
        },
        { maxWidth: 340 }
      );
    }
    if (interactive && spec.tooltip) {
      layer.bindTooltip(
        function (l) {
          return tooltipHtml(spec, l.feature.properties, cfg);
        },
        { sticky: spec.kind !== "markers", direction: "top", opacity: 0.95 }
      );
    }
    layer._npSpec = spec;
    return layer;
  }

  function byZ(a, b) {
    return (a.z || 0) - (b.z || 0);
  }

  // The layer control with a heading above each group of overlays (kept when Leaflet rebuilds the list).
  var GroupedLayers = L.Control.Layers.extend({
    _update: function () {
      L.Control.Layers.prototype._update.call(this);
      var list = this._overlaysList,
        groups = this.options.groups || {},
        last = null;
      if (!list) return this;
      Array.prototype.slice.call(list.children).forEach(function (label) {
        var tag = label.querySelector("[data-group]");
        var group = tag ? tag.getAttribute("data-group") : null;
        if (group && group !== last && groups[group]) {
          var head = document.createElement("div");
          head.className = "np-group";
          head.textContent = groups[group];
          list.insertBefore(head, label);
        }
        last = group;
      });
      return this;
    },
  });

  var HtmlControl = L.Control.extend({
    onAdd: function () {
      var div = L.DomUtil.create("div", "np-ctl " + (this.options.className || ""));
      div.innerHTML = this.options.html;
      L.DomEvent.disableClickPropagation(div);
      L.DomEvent.disableScrollPropagation(div);
      var title = div.querySelector(".np-kpi-title, .np-legend > b");
      if (title) {
        title.style.cursor = "pointer";
        L.DomEvent.on(title, "click", function () {
          div.classList.toggle("np-collapsed");
        });
      }
      return div;
    },
  });

  function restack(entry) {
    entry.panel.layers
      .filter(function (s) {
        return s.kind !== "markers" && s.pane !== "base";
      })
      .sort(byZ)
      .forEach(function (s) {
        var l = entry.layers[s.id];
        if (entry.map.hasLayer(l) && l.bringToFront) l.bringToFront();
      });
  }

  // map: an L.map (folium's, created with preferCanvas, maxZoom 20, zoomSnap 0.25, zoomDelta 0.5)
  function buildMap(map, panel, cfg) {
    map.createPane("npBase");
    map.getPane("npBase").style.zIndex = 250;
    map.getPane("npBase").style.pointerEvents = "none";
    var ctx = {
      renderer: L.canvas({ padding: 0.3, tolerance: 3 }),
      baseRenderer: L.canvas({ pane: "npBase", padding: 0.3 }),
    };
    map.attributionControl.setPrefix(cfg.offline ? "Leaflet" : '<a href="https://leafletjs.com">Leaflet</a>');
    (cfg.basemap.attribution || []).forEach(function (a) {
      map.attributionControl.addAttribution(a);
    });
    var bases = {};
    if (cfg.basemap.tiles && cfg.basemap.tiles.length) {
      var tiles = cfg.basemap.tiles.map(function (t) {
        return L.tileLayer(t.url, { subdomains: t.subdomains || "abc", maxNativeZoom: t.maxNativeZoom || 18, maxZoom: t.maxZoom || 20 });
      });
      var base = tiles.length === 1 ? tiles[0] : L.layerGroup(tiles);
      base.addTo(map);
      bases[esc(cfg.basemap.name)] = base;
    }
    var layers = {};
    panel.layers.forEach(function (spec) {
      layers[spec.id] = makeLayer(spec, ctx, cfg);
    });
    panel.layers
      .slice()
      .sort(byZ)
      .forEach(function (spec) {
        if (spec.show) layers[spec.id].addTo(map);
      });
    var control = new GroupedLayers(bases, {}, { collapsed: !!cfg.collapsed, sortLayers: false, groups: cfg.groups });
    panel.layers.forEach(function (spec) {
      control.addOverlay(
        layers[spec.id],
        '<span class="np-ln" data-layer="' + esc(spec.id) + '" data-group="' + esc(spec.group || "") + '">' + esc(spec.name) + "</span>"
      );
    });
    control.addTo(map);
    L.control.scale({ imperial: false, metric: true, maxWidth: 160 }).addTo(map);
    if (panel.kpiHtml) new HtmlControl({ position: "topleft", html: panel.kpiHtml, className: "np-kpi-ctl" }).addTo(map);
    if (panel.legendHtml) new HtmlControl({ position: "bottomright", html: panel.legendHtml, className: "np-legend-ctl" }).addTo(map);
    if (panel.bounds) map.fitBounds(panel.bounds, { padding: [12, 12] });
    else map.setView([0, 0], 2);
    var entry = { map: map, layers: layers, control: control, panel: panel };
    map.on("overlayadd", function () {
      restack(entry);
    });
    return entry;
  }

  function syncMaps(entries) {
    var busy = false;
    entries.forEach(function (a) {
      a.map.on("move zoomend", function () {
        if (busy) return;
        busy = true;
        try {
          entries.forEach(function (b) {
            if (b !== a) b.map.setView(a.map.getCenter(), a.map.getZoom(), { animate: false });
          });
        } finally {
          busy = false;
        }
      });
      a.map.on("overlayadd overlayremove", function (e) {
        if (busy || !e.layer || !e.layer._npSpec) return;
        busy = true;
        try {
          entries.forEach(function (b) {
            var other = b.layers[e.layer._npSpec.id];
            if (b === a || !other) return;
            if (e.type === "overlayadd") b.map.addLayer(other);
            else b.map.removeLayer(other);
          });
        } finally {
          busy = false;
        }
      });
    });
  }

  function finish() {
    if (NP.maps.length > 1) {
      var first = NP.maps[0].map;
      NP.maps.slice(1).forEach(function (e) {
        e.map.setView(first.getCenter(), first.getZoom(), { animate: false });
      });
      syncMaps(NP.maps);
    }
    NP.buildMs = performance.now() - NP.startMs;
    // two animation frames: the canvas renderers have drawn by then
    requestAnimationFrame(function () {
      requestAnimationFrame(function () {
        NP.readyMs = performance.now();
        document.documentElement.setAttribute("data-np-ready", "1");
      });
    });
  }

  NP.maps = [];
  // Add panel `index` of the page's configuration to the Leaflet map `map`; the last panel synchronises them all.
  NP.attach = function (map, index) {
    if (!NP.config) {
      NP.startMs = performance.now();
      NP.config = JSON.parse(document.getElementById("np-config").textContent);
    }
    var entry = buildMap(map, NP.config.panels[index], NP.config);
    NP.maps[index] = entry;
    if (NP.maps.filter(Boolean).length === NP.config.panels.length) finish();
    return entry;
  };
})();

// Swagger UI from the vendored swagger-ui-dist (static/swagger-ui/), no CDN.
window.ui = SwaggerUIBundle({ url: "/openapi.json", dom_id: "#swagger-ui", deepLinking: true });

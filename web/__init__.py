"""Web pages (folium-built Leaflet maps); arrives with the web-maps issue."""

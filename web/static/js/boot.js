// Page boot data: the JSON the server renders into <script type="application/json" id="boot">.
const element = document.getElementById('boot');

export const boot = element ? JSON.parse(element.textContent) : {};

// DNP accordion tooltips: the help texts come from the params model, written into the page by lib_dnp/webui/ui.py
// as a hidden map {elem_id: text}; this only copies them onto the controls' title attributes.
(function() {
    function applyDnpHelp() {
        var maps = gradioApp().querySelectorAll('.dnp-help-map');
        for (var i = 0; i < maps.length; i++) {
            var help;
            try {
                help = JSON.parse(maps[i].dataset.help || '{}');
            } catch (e) {
                console.warn('[DNP] unreadable help map', e);
                continue;
            }
            for (var id in help) {
                var element = gradioApp().getElementById(id);
                if (element && !element.title) {
                    element.title = help[id];
                }
            }
        }
    }
    // controls shown later (a caption box, a slider once its box is ticked) get theirs when they appear
    onUiLoaded(applyDnpHelp);
    onAfterUiUpdate(applyDnpHelp);
})();

{# SGD (rtrl_brian.optim.SGD) with momentum, one element #}
{{velocity}} = {{velocity}} * {{momentum}} + {{gradient}};
{{value}} -= {{lr}} * {{velocity}};

{# the mask of a loss (rtrl_brian.losses): whether it counts at trial step _step #}
bool _counted = true;
{% if mask_steps %}
if (_step >= {{mask_steps}})
    _short = 1;
else
    _counted = {{mask}}[_step] != 0;
{% endif %}

{# Adam (rtrl_brian.optim.Adam), one element #}
{{first}} = {{first}} * {{beta1}} + (1.0 - {{beta1}}) * {{gradient}};
{{second}} = {{second}} * {{beta2}} + (1.0 - {{beta2}}) * {{gradient}} * {{gradient}};
{{value}} -= {{lr}} * ({{first}} / _scale1) / (sqrt({{second}} / _scale2) + {{eps}});

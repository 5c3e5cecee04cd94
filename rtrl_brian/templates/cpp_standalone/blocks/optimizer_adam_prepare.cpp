{# Adam (rtrl_brian.optim.Adam): bias corrections of this update #}
const double _scale1 = 1.0 - pow({{beta1}}, (double) ({{count}}));
const double _scale2 = 1.0 - pow({{beta2}}, (double) ({{count}}));

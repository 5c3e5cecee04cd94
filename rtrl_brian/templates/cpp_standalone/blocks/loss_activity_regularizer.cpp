{# ActivityRegularizer (rtrl_brian.losses.ActivityRegularizer): weight * mean_k y_k #}
for (size_t _k = 0; _k < {{n}}; _k++)
{
    _loss += _y[_k];
    _dloss[_k] = {{weight}} / {{n}};
}
_loss *= {{weight}} / {{n}};

{# RateRegularizer (rtrl_brian.losses.RateRegularizer): weight/2 * sum_k (y_k - target)**2 #}
for (size_t _k = 0; _k < {{n}}; _k++)
{
    const double _error = _y[_k] - {{target}};
    _loss += _error * _error;
    _dloss[_k] = {{weight}} * _error;
}
_loss *= 0.5 * {{weight}};

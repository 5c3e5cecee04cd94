{# MSE (rtrl_brian.losses.MSE): 0.5 * sum_k (y_k - target_k)**2 at trial step _step,
   on the steps of its mask #}
{% include "loss_mask.cpp" %}
for (size_t _k = 0; _k < {{n}}; _k++)
    _dloss[_k] = 0.0;
if (_counted && !_short)
{
    if (_step >= {{steps}})
        _short = 1;
    else
        for (size_t _k = 0; _k < {{n}}; _k++)
        {
            _dloss[_k] = _y[_k] - {{target}}[_step * {{n}} + _k];
            _loss += _dloss[_k] * _dloss[_k];
        }
}
_loss *= 0.5;

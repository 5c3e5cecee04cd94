{# A loss summed over units, sum_k f(y_k, target_k), at trial step _step on the steps of
   its mask (rtrl_brian.losses.MSE, ExpressionLoss): value f and derivative df/dy are C
   expressions of _loss_y and _loss_target #}
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
            const double _loss_y = _y[_k];
            const double _loss_target = {{target}}[_step * {{n}} + _k];
            _loss += {{value}};
            _dloss[_k] = {{derivative}};
        }
}

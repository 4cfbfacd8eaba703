import type { NumberRange } from '../../model.js';

/** The filters only Nansen can apply, as `NetflowsQuery.sourceParams.nansen` (a leaf, so the history store can name them). */
export interface NansenFilters {
  tokenAddresses?: readonly string[];
  sectors?: readonly string[];
  includeStablecoins?: boolean;
  includeNativeTokens?: boolean;
  marketCapUsd?: NumberRange;
  traderCount?: NumberRange;
  tokenAgeDays?: NumberRange;
}
